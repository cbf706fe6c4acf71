"""``gankit train``: train a GAN and write a run directory."""

from __future__ import annotations

import argparse

# Flags that are shorthands for config keys: flag -> (dotted key, type, help).
TRAIN_FLAGS = {
    "--data": ("data.source", str, "named target (gaussian) or a .csv/.npy point file"),
    "--n": ("data.n", int, "training points drawn from a named target (1000)"),
    "--loss": ("train.loss", str, "objective: nonsaturating (the chapter's) or minimax"),
    "--generator": ("model.generator", str, "generator: linear (the chapter's) or mlp"),
    "--discriminator": ("model.discriminator", str, "discriminator: chapter (2-5-3-1 tanh) or mlp"),
    "--latent-dim": ("model.latent_dim", int, "noise dimension (2)"),
    "--epochs": ("train.epochs", int, "passes over the data (20)"),
    "--batch-size": ("train.batch_size", int, "batch size of both steps (8)"),
    "--lr-d": ("train.lr_d", float, "discriminator learning rate (0.05)"),
    "--lr-g": ("train.lr_g", float, "generator learning rate (0.005)"),
    "--seed": ("train.seed", int, "seed of data, init, order and noise (0)"),
    "--engine": ("train.engine", str, "auto (the fast path where it applies), general or fast"),
}

def add_parser(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a GAN (default: the textbook chapter's experiment)",
        description="Train a GAN. With no options: the chapter's experiment, a linear generator "
        "learning N(b, A^T A) against a 2-5-3-1 tanh discriminator, 20 epochs of batches of 8.",
        epilog="Precedence: defaults < --config file < --set overrides < flags. "
        "Example: gankit train --data points.csv --generator mlp --set model.g_hidden=[32,32]",
    )
    train.add_argument("--config", metavar="FILE", help="JSON config with sections data, model, train")
    train.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="override any config key, e.g. --set train.lr_d=0.01 (repeatable)")
    for flag, (key, kind, text) in TRAIN_FLAGS.items():
        train.add_argument(flag, type=kind, default=None, metavar=key.split(".")[1].upper(),
                           help=f"{text} [{key}]")
    train.add_argument("--out", metavar="DIR", help="run directory to create (must not exist)")
    train.add_argument("--runs", metavar="DIR", default="runs", help="parent of generated run directories (runs)")
    train.add_argument("--name", help="run name under --runs (default: <data>-seed<seed>-<time>)")
    train.add_argument("--no-plots", action="store_true", help="skip the figures (losses.png, samples.png, training.gif, ganlab.png, ganlab.gif)")
    train.add_argument("--tensorboard", action="store_true",
                       help="also log losses, metrics and sample images to RUN/tensorboard "
                       "(needs: pip install 'gankit[tensorboard]')")
    train.add_argument("--quiet", action="store_true", help="print only the closing line")
    train.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    train.set_defaults(handler=run)

def run(args: argparse.Namespace) -> int:
    from gankit.config import load_config

    overrides = list(args.set)
    for flag, (key, _, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            overrides.append(f"{key}={_json_text(value)}")
    config = load_config(args.config, overrides)
    if args.print_config:
        import json

        print(json.dumps(config.to_dict(), indent=2))
        return 0

    from gankit.experiment import run_experiment
    from gankit.summary import format_table

    output = run_experiment(config, out=args.out, root=args.runs, name=args.name, plots=not args.no_plots,
                            tensorboard=args.tensorboard)
    summary = output.result.summary
    if not args.quiet:
        print(f"run saved to {output.run_dir}")
        print(format_table(summary))
    print(f"loss_D {summary['loss_d']:.3f}, loss_G {summary['loss_g']:.3f}, "
          f"{summary['examples_per_sec']:.1f} examples/sec")
    return 0

def _json_text(value) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value
