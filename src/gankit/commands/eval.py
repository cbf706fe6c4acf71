"""``gankit eval``: is a saved generator any good? Two-sample tests and exact diagnostics."""

from __future__ import annotations

import argparse
import json


def add_parser(commands) -> None:
    p = commands.add_parser(
        "eval", help="test a saved generator against real points it never saw",
        description="Draw N generated points and N real points the generator never trained on (fresh from "
        "the known target, or the held-out split of a data file), run the MMD, energy, classifier and "
        "discriminator two-sample tests and the Gaussian and mode diagnostics, print a table with a verdict "
        "and write eval.json into the run.")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--n", type=int, default=1000, help="points per side (1000)")
    p.add_argument("--alpha", type=float, default=0.05, help="level of the tests (0.05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh points and the tests (0)")
    p.add_argument("--permutations", type=int, default=999, help="permutations for MMD and energy (999)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gankit.evaluate import json_safe, evaluate_run, format_report, write_report

    report = evaluate_run(args.run, n=args.n, alpha=args.alpha, seed=args.seed, permutations=args.permutations)
    path = write_report(args.run, report)
    if args.json:
        print(json.dumps(json_safe(report), indent=2))
    else:
        print(format_report(report))
        print(f"written to {path}")
    return 0
