"""``gankit train``: train a GAN and write a run directory."""

from __future__ import annotations

import argparse

# Flags that are shorthands for config keys: flag -> (dotted key, type, help).
TRAIN_FLAGS = {
    "--data": ("data.source", str, "named target (gaussian, ring8, grid25, moons, swissroll: each toy brings "
               "its preset), a .csv/.npy point file, or images: digits, idx:DIR, folder:DIR, FILE.npz, or downloaded "
               "on first use (verified, cached in $GANKIT_DATA or ~/.cache/gankit/data; mirror: data.url or "
               "$GANKIT_DATA_URL): mnist, fashion-mnist, cifar10, pokemon"),
    "--n": ("data.n", int, "training points drawn from a named target (1000)"),
    "--loss": ("train.loss", str, "objective: nonsaturating (the chapter's), minimax, hinge, least_squares, wgan"),
    "--generator": ("model.generator", str, "generator: linear (the chapter's) or mlp"),
    "--discriminator": ("model.discriminator", str, "discriminator: chapter (2-5-3-1 tanh) or mlp"),
    "--latent-dim": ("model.latent_dim", int, "noise dimension (2)"),
    "--epochs": ("train.epochs", int, "passes over the data (20)"),
    "--batch-size": ("train.batch_size", int, "batch size of both steps (8)"),
    "--lr-d": ("train.lr_d", float, "discriminator learning rate (0.05)"),
    "--lr-g": ("train.lr_g", float, "generator learning rate (0.005)"),
    "--seed": ("train.seed", int, "seed of data, init, order and noise (0)"),
    "--resolution": ("data.resolution", int, "resize and centre-crop images to this side (0: keep)"),
    "--penalty": ("train.penalty", str, "gradient penalty on D: none, gp (WGAN-GP), r1"),
    "--n-critic": ("train.n_critic", int, "D steps per G step (1)"),
    "--ema": ("train.ema", float, "decay of the moving average of G's weights (0: off)"),
    "--engine": ("train.engine", str, "auto (the fast path where it applies), general or fast"),
    "--device": ("train.device", str, "auto (a GPU when there is one), cpu, cuda, cuda:N or mps"),
    "--precision": ("train.precision", str, "32, bf16 or 16 (autocast; 16 with a gradient scaler)"),
    "--augment": ("train.augment", str, "none; diffaug: differentiable colour, translation and cutout of "
                  "every image D sees, real and fake, in both steps (small image sets); or some of them, "
                  "comma-separated: translation keeps colours best"),
}
# Flags that set several keys at once: flag -> (keys, help).
MULTI_FLAGS = {
    "--model": (("model.generator", "model.discriminator"), "network family for both G and D (mlp, dcgan, resnet)"),
}


def add_parser(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a GAN (default: the textbook chapter's experiment)",
        description="Train a GAN. With no options: the chapter's experiment, a linear generator "
        "learning N(b, A^T A) against a 2-5-3-1 tanh discriminator, 20 epochs of batches of 8.",
        epilog="Precedence: defaults < --preset < --config file < --set overrides < flags. "
        "Example: gankit train --data points.csv --generator mlp --set model.g_hidden=[32,32]; "
        "images: gankit train --data digits --model dcgan",
    )
    add_config_options(train)
    train.add_argument("--out", metavar="DIR", help="run directory to create (must not exist)")
    train.add_argument("--runs", metavar="DIR", default="runs", help="parent of generated run directories (runs)")
    train.add_argument("--name", help="run name under --runs (default: <data>-seed<seed>-<time>)")
    train.add_argument("--no-plots", action="store_true", help="skip the figures (losses.png, samples.png, training.gif, ganlab.png)")
    train.add_argument("--tensorboard", action="store_true",
                       help="also log losses, metrics and sample images to RUN/tensorboard "
                       "(needs: pip install 'gankit[tensorboard]')")
    train.add_argument("--quiet", action="store_true", help="print only the closing line")
    train.add_argument("--no-progress", action="store_true",
                       help="no progress bar on a terminal, and no line per epoch (losses, images/sec, "
                       "time left) where stderr is a log file or pipe")
    train.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    train.add_argument("--resume", metavar="RUN", help="continue the interrupted run RUN from its last checkpoint "
                       "to its planned end (its config is used; conflicting options are refused); with --epochs N, "
                       "train RUN, finished or not, on to N epochs, as if planned so from the start "
                       "(not with a train.lr_schedule)")
    train.epilog += (". Exit status: 0 done, 2 bad input, 3 diverged (non-finite loss), "
                     "130 / 143 stopped by SIGINT / SIGTERM (a checkpoint is written; resume with --resume RUN). "
                     "Under torchrun, --batch-size is the per-process batch")
    train.set_defaults(handler=run)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """The options that make a run's config, shared by ``gankit train`` and ``gankit sweep``."""
    parser.add_argument("--config", metavar="FILE", help="JSON config with sections data, model, train")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="override any config key, e.g. --set train.lr_d=0.01 (repeatable)")
    for flag, (key, kind, text) in TRAIN_FLAGS.items():
        parser.add_argument(flag, type=kind, default=None, metavar=key.split(".")[1].upper(),
                            help=f"{text} [{key}]")
    for flag, (keys, text) in MULTI_FLAGS.items():
        parser.add_argument(flag, default=None, metavar="NAME", help=f"{text} [{', '.join(keys)}]")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile G and D (general loop; falls back to eager with a warning) [train.compile]")
    parser.add_argument("--skip-corrupt", action="store_true",
                        help="skip unreadable image files (and print their count) instead of stopping "
                        "[data.skip_corrupt]")
    parser.add_argument("--preset", default="auto", metavar="NAME",
                        help="settings applied under yours: chapter-plus (the chapter's experiment, closer to the truth), "
                        "ring8, grid25, moons, swissroll (MLPs that learn these targets), "
                        "dcgan, resnet, wgan-gp, hinge-sn, r1, lsgan; auto (default) picks dcgan for dcgan networks, "
                        "resnet for resnet ones (class-conditional on digits, mnist, fashion-mnist and cifar10, "
                        "which have labels; --set model.conditional=false for unconditional), else the target's "
                        "own for ring8, grid25, moons and swissroll (none for the chapter's Gaussian and data "
                        "files); none")


def overrides_from_args(args: argparse.Namespace) -> list[str | tuple[str, object]]:
    """``--set`` items (text), then a typed ``(key, value)`` per flag given."""
    overrides: list[str | tuple[str, object]] = list(args.set)
    for flag, (key, _, _) in TRAIN_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            overrides.append((key, value))
    for flag, (keys, _) in MULTI_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            overrides += [(key, value) for key in keys]
    if args.skip_corrupt:
        overrides.append(("data.skip_corrupt", True))
    if args.compile:
        overrides.append(("train.compile", True))
    return overrides


def run(args: argparse.Namespace) -> int:
    from gankit.presets import resolve_config

    overrides = overrides_from_args(args)
    preset, epochs = None, None
    if args.resume:
        config, epochs = _resume_config(args, overrides)
    else:
        config, preset = resolve_config(args.config, overrides, args.preset)
    if args.print_config:
        import json

        print(json.dumps(config.to_dict(), indent=2))
        return 0

    import sys
    import threading

    from gankit.runs.experiment import resume_experiment, run_experiment
    from gankit.engines.guard import EXIT_DIVERGED, EXIT_SIGNAL, Diverged, Interrupted, stop_on_signals
    from gankit.metrics.summary import format_table

    if preset and not args.quiet:
        print(f"preset: {preset}")
    stop = threading.Event()
    try:
        with stop_on_signals(stop) as received:
            if args.resume:
                output = resume_experiment(args.resume, plots=False if args.no_plots else None, stop=stop,
                                           progress=_progress(args), epochs=epochs)
            else:
                output = run_experiment(config, out=args.out, root=args.runs, name=args.name,
                                        plots=not args.no_plots, stop=stop, tensorboard=args.tensorboard,
                                        progress=_progress(args))
    except Interrupted as err:
        if err.checkpoint is not None:
            run_dir = err.checkpoint.parent.parent
            print(f"gankit: {err}; checkpoint {err.checkpoint}\n"
                  f"resume with: gankit train --resume {run_dir}", file=sys.stderr)
        return EXIT_SIGNAL.get(received["signal"], 130)
    except Diverged as err:
        last = getattr(err, "checkpoint", None)
        where = f"; last good checkpoint: {last}" if last is not None else ""
        print(f"gankit: error: {err}{where}", file=sys.stderr)
        return EXIT_DIVERGED
    finally:
        from gankit.engines.distributed import destroy_process_group

        destroy_process_group()
    if output.run_dir is None:  # a torchrun rank other than 0: rank 0 reports
        return 0
    summary = output.result.summary
    for event in summary.get("lr_backoffs", []):
        print(f"learning rates backed off after divergence at step {event['diverged_at_step']}: "
              f"lr_d {event['lr_d']:g}, lr_g {event['lr_g']:g}")
    if not args.quiet:
        print(f"run saved to {output.run_dir}")
        if "quality" in summary:
            from gankit.metrics.images import format_quality

            print(format_quality(summary["quality"]))
        else:
            print(format_table(summary))
    print(f"loss_D {summary['loss_d']:.3f}, loss_G {summary['loss_g']:.3f}, "
          f"{summary['examples_per_sec']:.1f} examples/sec")
    return 0


def _progress(args: argparse.Namespace) -> bool | str | None:
    """A bar on a terminal, a line per epoch in a log, nothing with --no-progress or --quiet."""
    import sys

    if args.no_progress or args.quiet:
        return False
    return None if sys.stderr.isatty() else "lines"


def _resume_config(args: argparse.Namespace, overrides: list):
    """The run's own config, and the epochs asked for when they differ from it (else None).

    Options that would change the config are refused, but for train.epochs, which
    may grow (`gankit.runs.experiment.check_extension` says when it cannot).
    """
    from gankit.config import Config, layer, read_config_file
    from gankit.errors import UserError
    from gankit.files import load_run_config
    from gankit.runs.experiment import check_extension

    if args.out or args.name:
        raise UserError("--resume continues the run in place; drop --out / --name")
    if args.tensorboard:
        raise UserError("--tensorboard is not available with --resume; it logs only runs started with it")
    config = load_run_config(args.resume)
    raw = read_config_file(args.config) if args.config else {}
    wanted = layer(Config() if args.config else config, raw, overrides, where=str(args.config))
    a, b = config.to_dict(), wanted.to_dict()
    changed = [f"{s}.{k} ({a[s][k]!r} in the run, {b[s][k]!r} asked)" for s in a for k in a[s]
               if a[s][k] != b[s][k] and (s, k) != ("train", "epochs")]
    if changed:
        raise UserError(f"--resume uses the run's config (only train.epochs may grow); refusing to change "
                        f"{', '.join(changed)}")
    epochs = wanted.train.epochs if wanted.train.epochs != config.train.epochs else None
    if epochs is not None:
        check_extension(args.resume, config, epochs)
        config.train.epochs = epochs
    return config, epochs
