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
        "and write eval.json into the run. For an image run: the feature-space scores (FD, KID, precision, "
        "recall, class coverage) of generated vs held-out images, beside the real-halves and noise baselines.")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--n", type=int, default=None,
                   help="points per side (1000); images: generated images per set (the run's quality.n)")
    p.add_argument("--n-yardstick", type=int, default=None, dest="n_yardstick", metavar="N",
                   help="images: images a side of the size-matched FD ratio, the headline, however many images "
                        "are scored (the run's quality.n_yardstick, 400; 0: as many as each generated set)")
    p.add_argument("--alpha", type=float, default=0.05, help="level of the tests (0.05)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the fresh points and the tests (0); images: of the generated sets (the run's "
                        "own seed, which reproduces its summary's scores)")
    p.add_argument("--permutations", type=int, default=999, help="permutations for MMD and energy (999)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gankit.files import hold_run, load_run_config

    if args.n is not None and args.n < 1:
        from gankit.errors import UserError

        raise UserError(f"--n must be at least 1, got {args.n}")
    load_run_config(args.run)  # a run at all, before it is locked
    # Held while it is scored, as training holds it: an eval.json is never of weights a
    # concurrent --resume is replacing (that resume refuses, or this waits its turn).
    with hold_run(args.run):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from gankit.files import is_image_run
    from gankit.metrics.evaluate import json_safe, evaluate_run, format_report, write_report

    if is_image_run(args.run):
        return _run_images(args)
    n = 1000 if args.n is None else args.n
    seed = 0 if args.seed is None else args.seed
    report = evaluate_run(args.run, n=n, alpha=args.alpha, seed=seed, permutations=args.permutations)
    _say_where(args.run, report["platform"])
    path = write_report(args.run, report)
    if args.json:
        print(json.dumps(json_safe(report), indent=2))
    else:
        print(format_report(report))
        print(f"written to {path}")
    return 0


def _run_images(args: argparse.Namespace) -> int:
    """Feature-space quality of an image run (`gankit.metrics.images.evaluate_run`)."""
    from pathlib import Path

    from gankit.files import GENERATOR_NAMES, write_json
    from gankit.metrics.images import evaluate_run, format_quality
    from gankit.runs.platform import platform_facts

    quality = evaluate_run(args.run, n=args.n, seed=args.seed, n_yardstick=args.n_yardstick)
    here = platform_facts()
    _say_where(args.run, here)
    path = Path(args.run) / "eval.json"
    write_json(path, {"kind": "images", "quality": quality, "platform": here})
    if args.json:
        print(json.dumps(quality, indent=2))
    else:
        print(f"generator: {GENERATOR_NAMES[quality['generator']]}")
        print(format_quality(quality))
        print(f"written to {path}")
    return 0


def _say_where(run: str, here: dict) -> None:
    """One line on stderr when the run was trained on another platform than this evaluation runs on."""
    import sys
    from pathlib import Path

    from gankit.files import read_summary
    from gankit.runs.platform import note

    summary = read_summary(Path(run))
    line = note("this run", summary.get("platform"), here) if isinstance(summary, dict) and summary else None
    if line:
        print(f"gankit: {line}; the scores are computed here", file=sys.stderr)
