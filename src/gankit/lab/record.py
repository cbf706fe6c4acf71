"""What the lab keeps of a session, and "save as run": a normal run directory.

`Recorder` is gankit's `Snapshots` callback (the frames behind a run's
figures and GAN Lab animations) with a bounded memory: a lab may train for
thousands of epochs, so once it holds `Recorder.max_frames` frames it keeps
every other one and records half as often.

`save_run` writes what ``gankit train`` writes, in the same order, each file
atomically: ``config.json``, the weights (`gankit.files.save_models`),
``metrics.jsonl`` / ``metrics.csv``, ``snapshots.safetensors``, the figures
(optional) and ``summary.json`` last. So ``gankit sample``, ``eval``,
``report`` and ``export`` take it like any run. Drawn or dropped points are
copied into the run (``data.csv`` / ``data.npy``) and the config points at
that copy, so ``gankit eval`` rebuilds the same held-out split.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from gankit.config import Config
from gankit.engines.state import TrainState
from gankit.files import MetricsWriter, create_run_dir, hold_run, save_models, write_json
from gankit.metrics.summary import summarize
from gankit.runs.callbacks import Snapshots

_FIELDS = ("fake", "surface", "pull", "extents", "epochs")
STEM = 40  # characters of the data's name in a saved run's directory name (a name has at most 255 bytes)


class Recorder(Snapshots):
    """`Snapshots` of at most ``max_frames`` epochs, evenly spread over the session so far."""

    def __init__(self, max_frames: int = 200):
        super().__init__()
        self.max_frames, self.stride = max_frames, 1

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch % self.stride:
            return
        self.record(state)
        if len(self.epochs) > self.max_frames:
            # Epochs held are stride, 2 stride, ...: the odd positions hold the multiples of 2 stride.
            for name in _FIELDS:
                setattr(self, name, getattr(self, name)[1::2])
            self.stride *= 2

    def save_now(self, state: TrainState, path: Path) -> None:
        """Save the frames with one of the networks as they are now (unless the last frame is that)."""
        if self.epochs and self.epochs[-1] == state.epoch and state.batch == 0:
            self.save(path)
            return
        kept = {name: list(getattr(self, name)) for name in _FIELDS}
        Snapshots.record(self, state)
        try:
            self.save(path)
        finally:
            for name, value in kept.items():
                setattr(self, name, value)


def save_run(state: TrainState, config: Config, recorder: Recorder, runs: Path, examples_per_sec: float,
             engine: str, lr_changes: list[dict[str, float]], data_file: str | None = None,
             data_name: str | None = None, plots: bool = True) -> Path:
    """Write the session as a new run directory under ``runs``; returns its path.

    Args:
        state: the session's training state (read, not changed).
        config: the problem's config as it was set up (learning rates as they started).
        recorder: the session's frames.
        examples_per_sec: the session's training speed.
        engine: which engines trained it (``"fast"``, ``"general"``, ``"fast and general"``).
        lr_changes: learning-rate changes made while training, each ``{"step", "lr_d", "lr_g"}``.
        data_file: the point file it trained on (drawn or dropped), copied into the run.
        data_name: the name the user knows the data by (for the run's name).
        plots: draw ``losses.png``, ``samples.png``, ``training.gif`` and ``ganlab.png`` (seconds).
    """
    config = Config.from_dict(config.to_dict())
    config.train.epochs = max(1, state.epoch)  # what was trained (a partial epoch: see summary "steps")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(data_name or config.data.source).stem).strip("-.")[:STEM] or "data"
    run_dir = create_run_dir(None, runs, f"lab-{stem}-seed{config.train.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    with hold_run(run_dir):
        if data_file is not None:
            copy = run_dir / f"data{Path(data_file).suffix.lower()}"
            shutil.copyfile(data_file, copy)
            config.data.source = str(copy.resolve())
        write_json(run_dir / "config.json", config.to_dict())
        save_models(run_dir, config, state.G, state.D, state.dataset.shape)
        metrics = MetricsWriter(run_dir)
        for row in state.history:
            metrics.write(row)
        recorder.save_now(state, run_dir / "snapshots.safetensors")
        if plots:
            from gankit.viz.plots import draw_run

            draw_run(run_dir)
        summary: dict[str, Any] = {
            **summarize(state, examples_per_sec), "engine": engine, "lr_backoffs": [], "warnings": [],
            "lab": {"lr_changes": lr_changes, "batches_into_epoch": state.batch},
            "data_shape": list(state.dataset.shape),
        }
        write_json(run_dir / "summary.json", summary)
    return run_dir


__all__ = ["Recorder", "save_run"]
