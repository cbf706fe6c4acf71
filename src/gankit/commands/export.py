"""``gankit export``: a saved generator in a portable format (ONNX)."""

from __future__ import annotations

import argparse
import sys


def add_parser(commands) -> None:
    export = commands.add_parser(
        "export", help="write a run's generator as ONNX",
        description="Write a run's generator as an ONNX model: input z (batch, latent_dim), "
        "and for a conditional run labels (batch,) int64 (class names in the metadata gankit.classes), "
        "output x (batch, d) or images (batch, C, H, W) in [-1, 1], dynamic batch. The run's generator is its moving average G_ema where it keeps "
        "one (as for sample and eval), else G. Needs the onnx extra: pip install 'gankit[onnx]'.")
    export.add_argument("run", metavar="RUN", help="run directory")
    export.add_argument("--onnx", metavar="FILE", required=True, help="the .onnx file to write")
    export.add_argument("--force", action="store_true",
                        help="replace an existing --onnx FILE (never a run's own files)")
    export.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gankit.files import GENERATOR_NAMES, the_generator
    from gankit.runs.export import export_onnx

    path = export_onnx(args.run, args.onnx, force=args.force)
    role = the_generator(args.run)[2]
    print(f"generator ({GENERATOR_NAMES[role]}) written to {path}", file=sys.stderr)
    return 0
