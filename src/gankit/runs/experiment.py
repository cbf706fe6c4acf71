"""One training run, end to end: run directory, training, files, figures.

`run_experiment` is what ``gankit train`` calls; it is a plain function so that
notebooks and scripts get the very same run directory as the command line.
`resume_experiment` continues an interrupted run from its last checkpoint to
the planned end; the finished directory equals an uninterrupted run's (the
weights bitwise; only timings differ).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from gankit.runs.callbacks import MetricsLog, Progress, Snapshots
from gankit.config import Config
from gankit.errors import UserError, os_error_line
from gankit.engines.objectives import equilibrium
from gankit.runs.health import HealthMonitor
from gankit.files import create_run_dir, hold_run, save_models, write_json
from gankit.engines.state import Callback, TrainResult, TrainState
from gankit.engines.training import build_state, train


@dataclass
class RunOutput:
    run_dir: Path | None  # None on torchrun ranks other than 0, which write nothing
    result: TrainResult


def run_experiment(
    config: Config,
    out: str | Path | None = None,
    root: str | Path = "runs",
    name: str | None = None,
    plots: bool = True,
    progress: bool | str | None = None,
    callbacks: Sequence[Callback] = (),
    tensorboard: bool = False,
    stop: threading.Event | None = None,
) -> RunOutput:
    """Train ``config`` and write a complete run directory.

    The config and data are validated before the directory is created, so bad
    input leaves nothing behind. Checkpoints go to ``<run>/checkpoints`` (see
    `gankit.runs.checkpoint`); under torchrun only rank 0 writes.

    Args:
        config: the experiment.
        out: the run directory (must not exist); default ``root/name``.
        root: where a generated run directory goes.
        name: the generated run directory's name under ``root``.
        plots: draw ``losses.png``, ``samples.png``, ``training.gif`` (2-D data: also ``ganlab.*``;
            images: ``samples/epoch_NNNN.png`` and ``interpolation.png`` instead of GAN Lab's views).
        progress: show a progress bar (default: when stderr is a terminal); ``"lines"``: one
            line per epoch instead (losses, images/sec, time left), for logs.
        callbacks: extra callbacks, run after the built-in ones.
        tensorboard: also log to ``run_dir/tensorboard`` (needs the tensorboard extra).
        stop: when set (e.g. by a signal handler), training stops after the
            current step, writes a checkpoint and raises `gankit.engines.guard.Interrupted`.

    Returns:
        The run directory and the `TrainResult`.

    Raises:
        gankit.engines.guard.Diverged: a loss became non-finite (and no backoff was
            left); the last good checkpoint is kept.

    Examples:
        >>> import tempfile, pathlib
        >>> from gankit import Config, run_experiment
        >>> config = Config()
        >>> config.train.epochs = 2
        >>> scratch = tempfile.TemporaryDirectory()
        >>> out = pathlib.Path(scratch.name) / "run"
        >>> _ = run_experiment(config, out=out, plots=False, progress=False)
        >>> sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".safetensors"))
        ['config.json', 'discriminator.safetensors', 'generator.safetensors', 'snapshots.safetensors', 'summary.json']
        >>> scratch.cleanup()
    """
    from gankit.engines.distributed import world_from_env

    config.validate()
    if tensorboard:
        from gankit.viz.tensorboard import TensorBoardLog, require_tensorboard

        require_tensorboard()
    state = build_state(config)  # reads and checks the data, before any file is written
    world = world_from_env()
    if world.rank != 0:
        return _train_and_write(None, state, Snapshots(), plots, progress, callbacks, stop)
    run_dir = create_run_dir(out, root, name or _default_name(config))
    with hold_run(run_dir):
        if any(run_dir.iterdir()):  # an empty --out was taken meanwhile by a run that has finished
            raise UserError(f"{run_dir} already exists (run directory); choose another --out, or remove it")
        try:
            write_json(run_dir / "config.json", config.to_dict())
            if tensorboard:
                callbacks = [*callbacks, TensorBoardLog(run_dir / "tensorboard")]
            return _train_and_write(run_dir, state, Snapshots(), plots, progress, callbacks, stop)
        except UserError:
            if not (run_dir / "checkpoints").is_dir() or not any((run_dir / "checkpoints").iterdir()):
                shutil.rmtree(run_dir, ignore_errors=True)  # bad input found before any work: leave nothing
            raise
        except OSError as err:
            raise UserError(_kept(err, run_dir)) from None


def resume_experiment(
    run_dir: str | Path,
    plots: bool | None = None,
    progress: bool | str | None = None,
    callbacks: Sequence[Callback] = (),
    stop: threading.Event | None = None,
    epochs: int | None = None,
) -> RunOutput:
    """Continue the run in ``run_dir`` from its newest checkpoint to its planned end, or further.

    The config comes from the run. A run with no checkpoint yet starts over
    (its seed fixes everything), unless it holds saved weights (a run saved
    from the lab, or one whose checkpoints were removed), which is refused
    rather than overwritten; a finished run (one with ``summary.json``,
    its last file) is refused unless ``epochs`` extends it, and a run that
    another process holds too. Metrics logged after the checkpoint are dropped
    and logged again, so the finished run directory equals an uninterrupted
    run's. A run stopped while its files were written resumes from its last
    checkpoint and writes them.

    Args:
        plots: draw the figures (default: as the run was started).
        epochs: train to this many epochs instead of the planned ``train.epochs``:
            more (the only change allowed), finished run or not. The run goes on
            from its newest checkpoint and ends as a run planned for ``epochs``
            from the start would (weights and metrics bitwise). Once the
            checkpoint is loaded and checked, ``summary.json`` and what was drawn
            or measured from the old end (``eval.json``, ``report.html``,
            ``ganlab.gif``, ``ganlab.mp4``) are removed and ``config.json`` is
            rewritten; ``summary.json`` is written again last.

    Raises:
        UserError: ``epochs`` is fewer than planned, or the run has a learning-rate
            schedule (its rates depend on the total number of steps).
    """
    from gankit.runs.checkpoint import clean_temporary_files, list_checkpoints, load_checkpoint
    from gankit.engines.distributed import world_from_env
    from gankit.files import load_run_config
    from gankit.runs.platform import note as platform_note, platform_facts

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    extend = epochs is not None and epochs != config.train.epochs
    if extend:
        check_extension(run_dir, config, epochs)
        config.train.epochs = epochs
    world = world_from_env()
    with hold_run(run_dir) if world.rank == 0 else contextlib.nullcontext():
        if (run_dir / "summary.json").is_file() and not extend:
            raise UserError(f"{run_dir}: run is already complete (it has summary.json); nothing to resume "
                            "(more epochs: --epochs N)")
        checkpoints = list_checkpoints(run_dir)
        if not checkpoints and (run_dir / "generator.safetensors").is_file():
            # Starting over is exact only for a run that never got far enough to save weights; a run with
            # weights but no checkpoint (saved from the lab, or its checkpoints removed) would be replaced.
            raise UserError(f"{run_dir}: no checkpoint to continue from (checkpoints/ is empty or missing), and "
                            "resuming would retrain it from epoch 0 over its saved weights; train a new run "
                            "instead (gankit train --out NEW_DIR ...)")
        state = build_state(config)
        state.rank, state.world_size = world.rank, world.size
        snapshots = Snapshots()
        stateful = {} if _is_images(state) else {"snapshots": snapshots}
        meta = load_checkpoint(checkpoints[-1], state, stateful) if checkpoints else {}
        if checkpoints and world.rank == 0:
            line = platform_note("its checkpoint", meta.get("platform"), platform_facts(str(state.device)))
            if line:  # the continuation is exact only where the first part was trained
                print(f"gankit: {line}", file=sys.stderr)
                if isinstance(meta.get("platform"), dict):  # recorded as it was, never a foreign shape
                    state.resumed_from_platform = meta["platform"]
        plots = meta.get("plots", True) if plots is None else plots
        if world.rank != 0:
            return _train_and_write(None, state, snapshots, plots, progress, callbacks, stop)
        clean_temporary_files(run_dir)
        try:
            if extend:  # checked and loaded: now the run becomes one planned for `epochs`, not yet complete
                for name in ("summary.json", *DERIVED):
                    (run_dir / name).unlink(missing_ok=True)
                write_json(run_dir / "config.json", config.to_dict())
            return _train_and_write(run_dir, state, snapshots, plots, progress, callbacks, stop,
                                    backoffs=list(meta.get("lr_backoffs", [])))
        except OSError as err:
            raise UserError(_kept(err, run_dir)) from None


# What is drawn or measured from a finished run by `gankit report` and `gankit eval`: stale once it trains on.
DERIVED = ("eval.json", "report.html", "ganlab.gif", "ganlab.mp4")


def check_extension(run_dir: Path, config: Config, epochs: int) -> None:
    """Refuse, in one line, to train ``run_dir`` (planned with ``config``) to ``epochs`` when that cannot
    continue its trajectory: fewer epochs than planned, or a learning-rate schedule over the planned total."""
    planned = config.train.epochs
    if epochs < planned:
        raise UserError(f"{run_dir}: --resume can only add epochs (the run is planned for {planned}), got {epochs}")
    if config.train.lr_schedule != "constant":
        raise UserError(f"{run_dir}: cannot extend a run with train.lr_schedule={config.train.lr_schedule}: its "
                        f"learning rates decay over the planned {planned} epochs, so {epochs} would change the "
                        f"epochs already trained; train a new run with --epochs {epochs}")


def _train_and_write(run_dir: Path | None, state: TrainState, snapshots: Snapshots, plots: bool,
                     progress: bool | str | None, callbacks: Sequence[Callback],
                     stop: threading.Event | None, backoffs: list[dict] | None = None) -> RunOutput:
    """Train from ``state`` with checkpoints, backing off on divergence if configured, then write the files."""
    from gankit.runs.checkpoint import Checkpoint, load_checkpoint
    from gankit.engines.distributed import wrap, world_from_env
    from gankit.engines.guard import Diverged, Interrupted

    config, t = state.config, state.config.train
    world = world_from_env()
    wrap(state, world)
    if stop is not None:
        state.stop = stop
    images = _is_images(state)
    health = HealthMonitor()
    stateful = {} if images else {"snapshots": snapshots}  # image grids are files, already on disk
    # A backoff goes back to the last good checkpoint: with it on, every epoch's is kept, as before.
    checkpoint = Checkpoint(run_dir, t.checkpoint_every, t.checkpoint_minutes, t.keep_checkpoints,
                            stateful, write=run_dir is not None, seconds=0.0 if t.lr_backoff > 0 else t.checkpoint_seconds)
    backoffs = backoffs or []  # learning-rate backoffs so far (a resumed run carries its own)
    checkpoint.extra_meta.update(lr_backoffs=backoffs, plots=plots)
    while True:
        if run_dir is not None:
            metrics = _restart_metrics(run_dir, state.history)
            if images:  # a grid of samples per epoch instead of point snapshots
                from gankit.viz.pictures import SampleGrids

                recorders = [SampleGrids(run_dir)] if plots else []
            else:
                recorders = [snapshots]
            everything = [Progress(progress), health, metrics, *recorders, checkpoint, *callbacks]
        else:  # other torchrun ranks: checkpoint only takes part in the reductions
            everything = [checkpoint]
        try:
            result = train(config, everything, state=state)
            break
        except Interrupted as err:
            err.checkpoint = checkpoint.save(state)
            raise
        except Diverged as err:
            err.checkpoint = checkpoint.last_good
            retry = t.lr_backoff > 0 and len(backoffs) < t.lr_backoff_tries and checkpoint.last_good is not None
            if not retry or state.world_size > 1:  # under torchrun only rank 0 holds the checkpoint: stop
                raise
            # Go back to the last good checkpoint and retry with smaller learning rates.
            load_checkpoint(checkpoint.last_good, state, stateful)
            for opt in (state.opt_G, state.opt_D):
                for group in opt.param_groups:
                    group["lr"] *= t.lr_backoff
                    group["initial_lr"] = group.get("initial_lr", group["lr"] / t.lr_backoff) * t.lr_backoff
            backoffs.append({"diverged_at_step": err.step, "resumed_from_step": state.step,
                             "lr_d": state.opt_D.param_groups[0]["lr"], "lr_g": state.opt_G.param_groups[0]["lr"]})
            print(f"gankit: {err}; backing off: lr_d {backoffs[-1]['lr_d']:g}, lr_g {backoffs[-1]['lr_g']:g}, "
                  f"from step {state.step} ({len(backoffs)}/{t.lr_backoff_tries})", file=sys.stderr)
    result.summary["lr_backoffs"] = backoffs
    if run_dir is None:
        return RunOutput(None, result)

    # The run's files, each written atomically; summary.json last, as the mark of a complete run.
    # A stop requested meanwhile (a signal) stops between files, and a resume writes them again.
    def finishing_point() -> None:
        if state.stop.is_set():
            raise Interrupted(state.epoch, state.step, 0, finishing=True, checkpoint=checkpoint.last)

    save_models(run_dir, config, result.G, result.D, result.dataset.shape, G_ema=result.G_ema)
    finishing_point()
    if not images:
        snapshots.save(run_dir / "snapshots.safetensors")
    if plots:
        from gankit.viz.plots import draw_run

        draw_run(run_dir, between=finishing_point)
    health.check_summary(result.summary, state.epoch)
    result.summary["warnings"] = health.warnings
    finishing_point()
    write_json(run_dir / "summary.json", {**result.summary, "data_shape": list(result.dataset.shape)})
    return RunOutput(run_dir, result)


def write_trained_run(run_dir: str | Path, state: TrainState, engine: str, complete: bool = True) -> dict | None:
    """Write a run directory for a ``state`` trained elsewhere (`gankit.engines.sweep.train_many`).

    The same files as ``gankit train --no-plots`` writes (config, weights, metrics, the
    last checkpoint; ``summary.json`` last), so `gankit eval`, ``report`` and ``sample`` work
    on it. An incomplete run (``complete=False``: stopped early, a tuner's pruned trial) gets
    no summary: it is an interrupted run, which ``gankit train --resume`` trains to its end.
    The directory must not exist or be empty.

    Returns:
        The summary written (None for an incomplete run).
    """
    from gankit.runs.checkpoint import checkpoint_dir, save_checkpoint
    from gankit.metrics.summary import summarize

    run_dir = create_run_dir(run_dir)
    config = state.config
    with hold_run(run_dir):
        write_json(run_dir / "config.json", config.to_dict())
        save_checkpoint(checkpoint_dir(run_dir) / f"step-{state.step:09d}.safetensors", state, {},
                        {"lr_backoffs": [], "plots": False, "good": True})
        _restart_metrics(run_dir, state.history)
        save_models(run_dir, config, state.G, state.D, state.dataset.shape, G_ema=state.G_ema)
        if not complete:
            return None
        seen = state.dataset.train.shape[0] * state.epoch
        eps = seen / state.train_seconds if state.train_seconds > 0 else math.nan
        summary = {**summarize(state, eps), "engine": engine, "lr_backoffs": []}
        summary["examples_per_sec"] = eps if math.isfinite(eps) else None
        health = HealthMonitor(echo=False)  # the summary's warnings, not printed: many runs may be written
        health.on_train_start(state)
        health.loss = config.train.loss
        health.equilibrium = equilibrium(config.train.loss)
        health.check_summary(summary, state.epoch)
        summary["warnings"] = health.warnings
        write_json(run_dir / "summary.json", {**summary, "data_shape": list(state.dataset.shape)})
        return summary


def _kept(err: OSError, run_dir: Path) -> str:
    """The line for a run that a failed file operation stopped: what failed, and how to go on."""
    return f"{os_error_line(err)}; the run so far is kept: resume with gankit train --resume {run_dir}"


def _restart_metrics(run_dir: Path, history: list[dict]) -> MetricsLog:
    """A metrics log holding exactly ``history`` (rows written after a checkpoint are dropped)."""
    for name in ("metrics.jsonl", "metrics.csv"):
        (run_dir / name).unlink(missing_ok=True)
    log = MetricsLog(run_dir)
    for row in history:
        log.writer.write(row)
    return log


def _default_name(config: Config) -> str:
    import time

    stem = Path(config.data.source).stem if config.data.source not in ("gaussian",) else config.data.source
    return f"{stem}-seed{config.train.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def _is_images(state: TrainState) -> bool:
    return len(state.dataset.shape) == 3  # (C, H, W)
