"""``gankit twosample``: the two-sample tests on any two point files."""

from __future__ import annotations

import argparse
import json


def add_parser(commands) -> None:
    p = commands.add_parser(
        "twosample", help="test whether two point files come from the same distribution",
        description="Run the MMD, energy and classifier two-sample tests on two point files "
        "(.csv with optional header, or .npy) of the same dimension.")
    p.add_argument("a", metavar="A", help="first point file (.csv or .npy)")
    p.add_argument("b", metavar="B", help="second point file (.csv or .npy)")
    p.add_argument("--alpha", type=float, default=0.05, help="level of the tests (0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutations and the classifier test's split (0)")
    p.add_argument("--permutations", type=int, default=999,
                   help="permutations for MMD, energy and the classifier test (999)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gankit.metrics.compare import compare_files, format_comparison

    result = compare_files(args.a, args.b, alpha=args.alpha, seed=args.seed, permutations=args.permutations)
    print(json.dumps(result, indent=2) if args.json else format_comparison(result))
    return 0
