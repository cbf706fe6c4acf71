"""``gankit sample``: draw points from a saved generator."""

from __future__ import annotations

import argparse
import sys

from gankit.errors import UserError


def add_parser(commands) -> None:
    sample = commands.add_parser("sample", help="draw points from a saved generator",
                                 description="Draw N points from a run's generator (CSV to stdout by default).")
    sample.add_argument("run", metavar="RUN", help="run directory")
    sample.add_argument("-n", type=int, default=1000, help="number of points (1000)")
    sample.add_argument("--out", metavar="FILE", help="write .csv or .npy instead of CSV on stdout")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (0)")
    sample.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gankit.sample import sample_run, write_points

    if args.n < 1:
        raise UserError(f"-n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise UserError(f"--seed must be non-negative, got {args.seed}")
    points = sample_run(args.run, args.n, args.seed)
    write_points(points, args.out)
    if args.out:
        print(f"wrote {args.n} points to {args.out}", file=sys.stderr)
    return 0


