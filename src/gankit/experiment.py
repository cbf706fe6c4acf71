"""One training run, end to end: run directory, training, files, figures.

`run_experiment` is what ``gankit train`` calls; it is a plain function so that
notebooks and scripts get the very same run directory as the command line.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from gankit.callbacks import MetricsLog, Progress, Snapshots
from gankit.config import Config
from gankit.errors import UserError
from gankit.runs import create_run_dir, save_models, write_json
from gankit.training import Callback, TrainResult, build_state, train


@dataclass
class RunOutput:
    run_dir: Path
    result: TrainResult


def run_experiment(
    config: Config,
    out: str | Path | None = None,
    root: str | Path = "runs",
    name: str | None = None,
    plots: bool = True,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
    tensorboard: bool = False,
) -> RunOutput:
    """Train ``config`` and write a complete run directory.

    The config and data are validated before the directory is created, so bad
    input leaves nothing behind.

    Args:
        config: the experiment.
        out: the run directory (must not exist); default ``root/name``.
        root, name: where a generated run directory goes.
        plots: draw ``losses.png``, ``samples.png``, ``training.gif`` (and ``ganlab.*`` for 2-D data).
        progress: show a progress bar (default: when stderr is a terminal).
        callbacks: extra callbacks, run after the built-in ones.
        tensorboard: also log to ``run_dir/tensorboard`` (needs the tensorboard extra).

    Returns:
        The run directory and the `TrainResult`.
    """
    config.validate()
    if tensorboard:
        from gankit.tensorboard import TensorBoardLog, require_tensorboard

        require_tensorboard()
    state = build_state(config)  # reads and checks the data, before any file is written
    run_dir = create_run_dir(out, root, name or _default_name(config))
    try:
        config.save(run_dir / "config.json")
        snapshots = Snapshots()
        if tensorboard:
            callbacks = [*callbacks, TensorBoardLog(run_dir / "tensorboard")]
        result = train(config, [Progress(progress), MetricsLog(run_dir), snapshots, *callbacks], state=state)
        save_models(run_dir, config, result.G, result.D, result.dataset.shape)
        snapshots.save(run_dir / "snapshots.safetensors")
        write_json(run_dir / "summary.json", {**result.summary, "data_shape": list(result.dataset.shape)})
        if plots:
            from gankit.plots import draw_run

            draw_run(run_dir)
    except UserError:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return RunOutput(run_dir, result)


def _default_name(config: Config) -> str:
    import time

    stem = Path(config.data.source).stem if config.data.source not in ("gaussian",) else config.data.source
    return f"{stem}-seed{config.train.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
