"""A sweep on disk: the sweep directory, its rows and figures.

The sweep directory (never overwritten):

    config.json   the base config
    sweep.json    grid, seeds, engine, timing
    runs.csv      one row per run: varied keys, seed, where it diverged (if it did),
                  final losses, diagnostics, modes captured for a mixture target
                  (null for a diverged run)
    runs.json     the same rows, plus the generator's mean and covariance
    heatmap.png   median fd_to_truth over the first two grid keys (one key: median, p10-p90 per value)
    samples.png   final real-vs-generated scatter plots for a sample of runs
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path

from gankit.config import Config
from gankit.engines.sweep import MODE_METRICS, ROW_METRICS, SweepResult, run_sweep, sweep_configs
from gankit.files import atomic_write, create_run_dir, write_json


def csv_columns(result: SweepResult) -> list[str]:
    """Columns of runs.csv: run, seed, the grid keys, engine, where it diverged, then `ROW_METRICS`
    and `MODE_METRICS`."""
    return ["run", "seed", *[k for k, _ in result.grid], "engine", "status", "diverged_at_epoch", "diverged_at_step",
            *ROW_METRICS, *MODE_METRICS]


def write_sweep(result: SweepResult, base: Config, run_dir: Path, seeds: int, plots: bool = True) -> None:
    """Write the sweep directory's files into the (new, empty) ``run_dir``."""
    base.save(run_dir / "config.json")
    write_json(run_dir / "sweep.json", {
        "grid": {k: v for k, v in result.grid}, "seeds": seeds, "seed_start": base.train.seed,
        "runs": len(result.rows), "engines": result.engines, "train_seconds": result.seconds,
        "examples_per_sec": result.examples_per_sec if result.seconds > 0 else None,
    })
    write_json(run_dir / "runs.json", result.rows)
    columns = csv_columns(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in result.rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    atomic_write(run_dir / "runs.csv", buffer.getvalue())
    if plots:
        from gankit.viz.sweep_plots import plot_heatmap, plot_sample_panel

        if result.grid:
            plot_heatmap(result.rows, [k for k, _ in result.grid], path=run_dir / "heatmap.png")
        plot_sample_panel(result.rows, result.states, path=run_dir / "samples.png")


def run_sweep_dir(base: Config, grid: list[tuple[str, list]], seeds: int, out=None, root="runs",
                  name: str | None = None, plots: bool = True, progress: bool | None = None,
                  budget: float | None = None):
    """Validate, train and write a sweep directory; returns (directory, `SweepResult`).

    Every run's config is validated before the directory is created, so bad
    input leaves nothing behind.
    """
    base.validate()
    sweep_configs(base, grid, seeds)  # every run's config checked before anything is written
    stem = Path(base.data.source).stem if base.data.source != "gaussian" else base.data.source
    run_dir = create_run_dir(out, root, name or f"sweep-{stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        result = run_sweep(base, grid, seeds, progress, budget)
    except BaseException:  # nothing was trained to the end: leave nothing behind
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    write_sweep(result, base, run_dir, seeds, plots)  # the rows first, then the figures
    return run_dir, result


__all__ = ["csv_columns", "run_sweep_dir", "write_sweep"]
