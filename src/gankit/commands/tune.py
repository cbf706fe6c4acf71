"""``gankit tune``: hyperparameter search with Optuna, trials trained together, on one machine or many."""

from __future__ import annotations

import argparse

from gankit.errors import UserError


def add_parser(commands) -> None:
    from gankit.commands.train import add_config_options

    tune = commands.add_parser(
        "tune",
        help="search hyperparameters with Optuna (TPE, pruning), many trials trained at once",
        description="Search a space of config keys for the settings that make this GAN train best. "
        "Optuna samples each trial's values (TPE by default) and prunes trials that fall behind "
        "(median by default) on their per-epoch value; trials on the fast path are trained "
        "together, a batch at a time, as one vectorised ensemble. Every trial is an ordinary run "
        "directory under STUDY/trials/. The study directory ends with trials.csv, best.json "
        "(gankit train --config best.json trains the best trial), study.json, history.png, "
        "importance.png and parameters.png; gankit report STUDY renders them. Started again with "
        "the same command, a worker continues the study; several workers (processes, or machines "
        "with --storage postgresql://...) share one study and count --trials over all of them.",
        epilog="Example: gankit tune --preset chapter-plus --space lr_d=1e-3:1e-1:log "
        "--space lr_g=1e-4:1e-2:log --space beta1=0,0.5 --trials 200 --out runs/study. "
        "Exit status: 0 done, 2 bad input.",
    )
    tune.add_argument("--space", metavar="KEY=SPEC", action="append", default=[],
                      help="a searched config key: LOW:HIGH (uniform), LOW:HIGH:log, or V1,V2,... "
                      "(choices, e.g. loss=nonsaturating,minimax); integers for integer keys (repeatable)")
    tune.add_argument("--space-file", metavar="FILE",
                      help="the space as a JSON object: key -> the same text, a list of choices (lists allowed: "
                      '{"d_hidden": [[32], [32, 32]]}) or {"low": L, "high": H, "log": true}')
    tune.add_argument("--trials", type=int, default=None,
                      help="trials in the whole study, over all its workers (100 unless --budget is given)")
    tune.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                      help="this worker asks for no new batch once SECONDS have passed")
    tune.add_argument("--metric", default=None,
                      help="summary.json value to optimise (dotted for images: quality.fd); default fd_to_truth "
                      "for targets with a known truth, quality.fd for images, else fd_to_data_fit")
    tune.add_argument("--direction", choices=("minimize", "maximize"), default="minimize",
                      help="minimize (default) or maximize the metric")
    tune.add_argument("--seeds", type=int, default=1,
                      help="seeds per trial (train.seed, +1, ...); the trial's value is their mean (1)")
    tune.add_argument("--aggregate", choices=("mean", "median"), default="mean",
                      help="how a trial's value comes from its seeds' values: mean (default) or median "
                      "(robust to one seed that fails)")
    tune.add_argument("--batch", type=int, default=None,
                      help="trials asked and trained together (16 for point data, 1 for images)")
    tune.add_argument("--sampler", default="tpe", help="tpe (default) or random")
    tune.add_argument("--sampler-seed", type=int, default=None,
                      help="seed of the sampler: one worker with the same seed repeats its study exactly")
    tune.add_argument("--pruner", default="median",
                      help="median (default), hyperband or none; pruning needs a per-epoch metric "
                      "(fd_to_truth, kl_to_truth, fd_to_data_fit)")
    tune.add_argument("--report-every", type=int, default=0, metavar="EPOCHS",
                      help="epochs between the values reported to the pruner (default: a tenth of the epochs)")
    tune.add_argument("--storage", default=None,
                      help="where the study lives: default STUDY/study.journal; journal:PATH (a shared filesystem) "
                      "or postgresql://USER@HOST:PORT/DB (pip install 'gankit[tune]') to share it between machines")
    tune.add_argument("--study", default=None, metavar="NAME",
                      help="the study's name in the storage (default: the study directory's name)")
    tune.add_argument("--heartbeat", type=float, default=10.0, metavar="SECONDS",
                      help="PostgreSQL: seconds between a worker's heartbeats; a trial silent for three of "
                      "them is lost and asked again (10)")
    add_config_options(tune)
    tune.add_argument("--out", metavar="DIR",
                      help="the study directory: created, or continued when it holds this same study")
    tune.add_argument("--runs", metavar="DIR", default="runs", help="parent of the default study directory (runs)")
    tune.add_argument("--no-plots", action="store_true", help="skip history.png, importance.png and parameters.png")
    tune.add_argument("--no-progress", action="store_true", help="no progress bar (a line per trial still)")
    tune.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from gankit.commands.train import overrides_from_args
    from gankit.presets import resolve_config
    from gankit.tune import TuneSettings, tune

    base, preset = resolve_config(args.config, overrides_from_args(args), args.preset)
    if preset:
        print(f"preset: {preset}")
    for name in ("trials", "seeds", "batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name} must be at least 1, got {value}")
    if args.budget is not None and not args.budget > 0:
        raise UserError(f"--budget must be a positive number of seconds, got {args.budget}")
    if args.report_every < 0:
        raise UserError(f"--report-every must be 0 (automatic) or more, got {args.report_every}")
    if not args.heartbeat > 0:
        raise UserError(f"--heartbeat must be a positive number of seconds, got {args.heartbeat}")
    out = Path(args.out) if args.out else Path(args.runs) / (args.study or _default_name(base))
    settings = TuneSettings(
        space=[], metric=args.metric or "", direction=args.direction,
        trials=args.trials if args.trials is not None or args.budget is not None else 100,
        budget=args.budget, seeds=args.seeds, aggregate=args.aggregate, batch=args.batch or 0, sampler=args.sampler,
        sampler_seed=args.sampler_seed, pruner=args.pruner, report_every=args.report_every,
        progress=False if args.no_progress else None)
    outcome = tune(base, args.space, out, settings, space_file=args.space_file, storage=args.storage,
                   study=args.study, heartbeat=args.heartbeat, plots=not args.no_plots,
                   say=lambda line: print(line, flush=True))
    info = outcome.info
    counts = ", ".join(f"{v} {k}" for k, v in sorted(info["trials"].items()))
    print(f"study saved to {out} ({counts})")
    if info["best"] is not None:
        best = info["best"]
        params = ", ".join(f"{k.split('.')[-1]}={v:.4g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                           for k, v in best["params"].items())
        print(f"best: trial {best['number']}, {info['metric']} {best['value']:.5g} ({params})")
        print(f"train it: gankit train --config {out / 'best.json'}")
    else:
        print("no trial finished with a value", file=sys.stderr)
    return 0


def _default_name(base) -> str:
    from pathlib import Path

    stem = Path(base.data.source).stem if base.data.source != "gaussian" else base.data.source
    return f"tune-{stem.replace(':', '-')}"
