"""``gankit sample``: draw points from a saved generator."""

from __future__ import annotations

import argparse
import sys

from gankit.errors import UserError


def add_parser(commands) -> None:
    sample = commands.add_parser("sample", help="draw points or images from a saved generator",
                                 description="Draw N points from a run's generator (CSV to stdout by default), "
                                 "or N images of an image run as PNGs. Uses the run's moving average of G "
                                 "(generator_ema.safetensors) when it has one.")
    sample.add_argument("run", metavar="RUN", help="run directory")
    sample.add_argument("-n", type=int, default=1000, help="number of points or images (1000)")
    sample.add_argument("--out", metavar="FILE", help="points: write .csv or .npy instead of CSV on stdout; "
                        "images (required): DIR for one PNG each, or FILE.png for one grid")
    sample.add_argument("--force", action="store_true",
                        help="replace an existing --out FILE (never a run's own files)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (0)")
    sample.add_argument("--label", default=None, metavar="CLASS",
                        help="class of every sample of a conditional run, by name (as listed under 'classes' "
                        "in its summary.json, e.g. a sub-folder's name) or index (default: the classes in turn)")
    sample.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gankit.runs.sample import sample_run, write_images, write_points

    if args.n < 1:
        raise UserError(f"-n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise UserError(f"--seed must be non-negative, got {args.seed}")
    from pathlib import Path

    from gankit.files import GENERATOR_NAMES, check_output, the_generator

    if args.out and Path(args.out).suffix.lower() in (".csv", ".npy", ".png"):
        check_output(args.out, args.force)  # before the generator runs
    points = sample_run(args.run, args.n, args.seed, args.label)
    print(f"generator: {GENERATOR_NAMES[the_generator(args.run)[2]]}", file=sys.stderr)
    if points.dim() == 4:
        if not args.out:
            raise UserError("an image run needs --out DIR (one PNG each) or --out FILE.png (one grid)")
        from gankit.viz.pictures import class_columns

        model = the_generator(args.run)[0].model
        columns = class_columns(model.n_classes, len(points)) if model.conditional and args.label is None else None
        print(f"wrote {write_images(points, args.out, force=args.force, columns=columns)}", file=sys.stderr)
        return 0
    write_points(points, args.out, force=args.force)
    if args.out:
        print(f"wrote {args.n} points to {args.out}", file=sys.stderr)
    return 0


