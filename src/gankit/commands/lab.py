"""``gankit lab``: the live browser lab (needs the ``lab`` extra)."""

from __future__ import annotations

import argparse

from gankit.errors import UserError


def add_parser(commands) -> None:
    lab = commands.add_parser(
        "lab", help="open the live lab in a browser: pick a problem, watch a GAN train, save it as a run",
        description="Serve the lab on this machine and open it: choose a target (or draw points, or drop a "
        "CSV/NPY file), the networks, the objective and learning rates; watch D's surface, G's points and "
        "the pull on each, the manifold, losses and live figures; save the session as a normal run. "
        "The URL carries a random token; only this machine can connect unless --host says otherwise.")
    lab.add_argument("--port", type=int, default=8765, help="port to listen on (8765; 0: any free port)")
    lab.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (127.0.0.1: this machine only; 0.0.0.0 lets others in, "
                     "guarded by the token alone)")
    lab.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    lab.add_argument("--runs", default="runs", metavar="DIR", help="where 'save as run' writes (runs)")
    lab.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be 0 to 65535, got {args.port}")
    try:
        from gankit.lab.server import serve
    except ImportError as err:
        raise UserError(f"gankit lab needs the lab extra: pip install -c constraints.txt -e '.[lab]' "
                        f"({err.name} is missing)") from None
    import torch

    # The networks are tiny: one intra-op thread is faster, and much faster on a busy machine.
    torch.set_num_threads(1)
    try:
        serve(args.host, args.port, open_browser=not args.no_browser, runs=args.runs)
    except KeyboardInterrupt:
        pass
    return 0
