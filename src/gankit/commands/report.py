"""``gankit report``: one self-contained HTML page for a run."""

from __future__ import annotations

import argparse
import sys


def add_parser(commands) -> None:
    report = commands.add_parser(
        "report", help="write a run's report as one self-contained HTML page",
        description="Write RUN/report.html: summary, evaluation (eval.json, when present), figures, "
        "animations, per-epoch metrics and config, with every image embedded (no network needed). An image "
        "run's page opens with its sample grid beside real training images, then FD, KID, precision and recall "
        "beside their real-halves and noise baselines and the share of each class, then its interpolation, "
        "losses and training GIF. "
        "A sweep directory's page shows its grid, heatmap, samples and every run's row; a study directory "
        "(gankit tune) its best trial, optimisation history, parameter importances, every trial's row and "
        "the best config.")
    report.add_argument("run", metavar="RUN", help="run, sweep or study directory")
    report.add_argument("--out", metavar="FILE", help="where to write the page (RUN/report.html); an existing "
                        "FILE is replaced only with --force, a run's own files never")
    report.add_argument("--force", action="store_true", help="replace an existing --out FILE")
    report.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gankit.viz.report import write_report

    path = write_report(args.run, args.out, force=args.force)
    print(f"report written to {path}", file=sys.stderr)
    return 0
