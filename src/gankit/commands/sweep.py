"""``gankit sweep``: many runs over seeds and a grid of hyperparameters, trained together."""

from __future__ import annotations

import argparse

from gankit.errors import UserError


def add_parser(commands) -> None:
    from gankit.commands.train import add_config_options

    sweep = commands.add_parser(
        "sweep",
        help="train many runs at once over seeds and a grid of hyperparameters",
        description="Train every combination of --grid values, each with --seeds seeds, as one "
        "vectorised ensemble where the model allows (the fast path), and write one row per run "
        "(varied keys, seed, final losses, the target's diagnostics, modes captured for ring8 and grid25) "
        "to runs.csv and runs.json, "
        "with heatmap.png (median fd_to_truth over the first two grid keys; for one key, each value's "
        "runs with their median and p10-p90) and samples.png.",
        epilog="Example: gankit sweep --seeds 64 --grid lr_d=0.005,0.05,0.5 --grid lr_g=0.0005,0.005,0.05. "
        "Each run draws exactly what `gankit train` with the same config and seed draws.",
    )
    sweep.add_argument("--seeds", type=int, default=16,
                       help="runs per grid point, seeds train.seed, train.seed+1, ... (16)")
    sweep.add_argument("--grid", metavar="KEY=V1,V2,...", action="append", default=[],
                       help="a config key (bare or dotted) and its values: numbers, or names such as loss=nonsaturating,hinge (repeatable)")
    add_config_options(sweep)
    sweep.add_argument("--out", metavar="DIR", help="sweep directory to create (must not exist)")
    sweep.add_argument("--runs", metavar="DIR", default="runs", help="parent of generated directories (runs)")
    sweep.add_argument("--name", help="directory name under --runs (default: sweep-<data>-<time>)")
    sweep.add_argument("--no-plots", action="store_true", help="skip heatmap.png and samples.png")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                       help="wall-clock budget: no group of runs starts after it is spent; "
                       "the runs left are rows with status 'skipped'")
    sweep.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import statistics

    from gankit.commands.train import overrides_from_args
    from gankit.engines.sweep import parse_grid
    from gankit.runs.sweep import run_sweep_dir
    from gankit.presets import resolve_config

    base, preset = resolve_config(args.config, overrides_from_args(args), args.preset)
    if preset:
        print(f"preset: {preset}")
    grid = parse_grid(args.grid, base)
    if args.budget is not None and not args.budget > 0:
        raise UserError(f"--budget must be a positive number of seconds, got {args.budget}")
    run_dir, result = run_sweep_dir(base, grid, args.seeds, out=args.out, root=args.runs, name=args.name,
                                    plots=not args.no_plots, progress=False if args.no_progress else None,
                                    budget=args.budget)
    engines = ", ".join(f"{k} {v}" for k, v in result.engines.items())
    print(f"sweep saved to {run_dir}")
    print(f"{len(result.rows)} runs ({engines}) in {result.seconds:.1f} s, "
          f"{result.examples_per_sec:.0f} examples/sec in aggregate")
    for status in ("diverged", "skipped"):
        count = sum(row["status"] == status for row in result.rows)
        if count:
            print(f"{count} runs {status}" + (" (the time budget ran out)" if status == "skipped" else ""))
    keys = [k for k, _ in result.grid]
    cells: dict[tuple, list[float]] = {}
    modes: dict[tuple, list[int]] = {}
    for row in result.rows:
        point = tuple(row[k] for k in keys)
        if row["fd_to_truth"] is not None:
            cells.setdefault(point, []).append(row["fd_to_truth"])
        if row.get("modes_captured") is not None:
            modes.setdefault(point, []).append(row["modes_captured"])

    def modes_text(values: list[int]) -> str:
        return f", modes captured median {statistics.median(values):g} (min {min(values)})" if values else ""

    if len(cells) > 1 and len(cells) <= 24:  # a median per grid point
        for point, fds in cells.items():
            where = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, point))
            print(f"  {where}: fd_to_truth median {statistics.median(fds):.4f} over {len(fds)} runs"
                  f"{modes_text(modes.get(point, []))}")
    elif cells:
        fds = [fd for values in cells.values() for fd in values]
        print(f"fd_to_truth median {statistics.median(fds):.4f} over {len(fds)} runs"
              f"{modes_text([m for values in modes.values() for m in values])}")
    return 0
