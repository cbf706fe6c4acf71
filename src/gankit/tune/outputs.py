"""What a study leaves in its directory, rewritten by each worker as it ends.

    study.json      the space, metric, direction, storage, and counts by state
    trials.csv      one row per trial: number, state, result, value, parameters, run directory
    best.json       the best trial's config: ``gankit train --config best.json`` trains it
    history.png     each trial's value by trial number, and the best so far
    importance.png  how much each parameter explains the value (Optuna's fANOVA)
    parameters.png  the value against each parameter

Every file is written atomically, so two workers ending together leave one
whole version of each.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

from gankit.config import Config
from gankit.files import atomic_write, write_json
from gankit.tune.space import Dimension, trial_config
from gankit.tune.study import RESULT_ATTR, RETRY_ATTR, is_lost

FIGURES = ("history.png", "importance.png", "parameters.png")


def point_of(params: dict[str, Any], space: Sequence[Dimension]) -> dict[str, Any]:
    """A trial's Optuna parameters as config values (lists of choices come back from their JSON text)."""
    point = {}
    for d in space:
        if d.name not in params:
            continue
        value = params[d.name]
        if d.choices is not None and isinstance(value, str) and any(isinstance(c, tuple) for c in d.choices):
            value = json.loads(value)
        point[d.key] = value
    return point


def rows(study, space: Sequence[Dimension]) -> list[dict[str, Any]]:
    """One row per trial, as trials.csv holds them."""
    out = []
    for t in study.get_trials(deepcopy=False):
        state = "lost" if is_lost(t) else t.state.name.lower()
        mine = t.user_attrs.get(RESULT_ATTR) if isinstance(t.user_attrs.get(RESULT_ATTR), dict) else {}
        row = {"number": t.number, "state": state, "result": mine.get("result", ""),
               "value": t.value if t.value is not None else "",
               **{d.key: json.dumps(v) if isinstance(v, list) else v
                  for d, v in ((d, point_of(t.params, space).get(d.key, "")) for d in space)},
               "pruned_at_epoch": mine.get("pruned_at_epoch", ""),
               "retry_of": t.user_attrs.get(RETRY_ATTR, ""),
               "run_dir": mine.get("run_dir", ""),
               "seconds": round(t.duration.total_seconds(), 3) if t.duration is not None else ""}
        out.append(row)
    return out


def write_outputs(study, base: Config, space: Sequence[Dimension], directory: Path, metric: str, direction: str,
                  storage: str, plots: bool = True) -> dict[str, Any]:
    """Write study.json, trials.csv, best.json and the figures; returns study.json's contents."""
    table = rows(study, space)
    columns = ["number", "state", "result", "value", *[d.key for d in space], "pruned_at_epoch", "retry_of",
               "run_dir", "seconds"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns)
    writer.writeheader()
    writer.writerows(table)
    atomic_write(directory / "trials.csv", buffer.getvalue())
    counts: dict[str, int] = {}
    for row in table:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    complete = [t for t in study.get_trials(deepcopy=False) if t.value is not None and t.state.name == "COMPLETE"]
    best = None
    if complete:
        trial = min(complete, key=lambda t: t.value) if direction == "minimize" else max(complete, key=lambda t: t.value)
        point = point_of(trial.params, space)
        config = trial_config(base, point, base.train.seed)
        write_json(directory / "best.json", config.to_dict())
        best = {"number": trial.number, "value": trial.value, "params": point,
                "run_dir": (trial.user_attrs.get(RESULT_ATTR) or {}).get("run_dir")}
    info = {"study": study.study_name, "storage": storage, "metric": metric, "direction": direction,
            "space": [d.describe() for d in space], "trials": counts, "best": best}
    write_json(directory / "study.json", info)
    if plots and complete:
        draw_figures(study, space, directory, metric, direction)
    return info


def draw_figures(study, space: Sequence[Dimension], directory: Path, metric: str, direction: str) -> None:
    """history.png, importance.png (two finished trials or more) and parameters.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.files import atomic_file

    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.value is not None]
    pruned = [t for t in study.get_trials(deepcopy=False) if t.state.name == "PRUNED"]
    log_values = all(t.value > 0 for t in trials) and max(t.value for t in trials) > 20 * min(t.value for t in trials)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter([t.number for t in trials], [t.value for t in trials], s=14, color="C0", label="finished trial")
    if pruned:  # a pruned trial's last reported value, where it stopped
        last = [(t.number, t.intermediate_values[max(t.intermediate_values)]) for t in pruned if t.intermediate_values]
        if last:
            ax.scatter(*zip(*last), s=10, marker="x", color="0.6", label="pruned (last value)")
    ordered = sorted(trials, key=lambda t: t.number)
    best, xs, ys = None, [], []
    for t in ordered:
        if best is None or (t.value < best if direction == "minimize" else t.value > best):
            best = t.value
        xs.append(t.number)
        ys.append(best)
    ax.step(xs, ys, where="post", color="C3", label="best so far")
    if log_values:
        ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"{study.study_name}: {len(trials)} finished, {len(pruned)} pruned")
    ax.legend(fontsize="small")
    _save(fig, directory / "history.png", atomic_file)

    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * max(1, len(space))))
    importances = _importances(study)
    if importances:
        names = list(importances)[::-1]
        ax.barh([n.split(".")[-1] for n in names], [importances[n] for n in names], color="C0")
        ax.set_xlabel("share of the value's variance explained (fANOVA)")
    else:
        ax.text(0.5, 0.5, "needs two finished trials that differ", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title("parameter importance")
    _save(fig, directory / "importance.png", atomic_file)

    columns = min(3, len(space))
    lines = math.ceil(len(space) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3.2 * lines), squeeze=False)
    for ax, d in zip(axes.flat, space):
        xs = [point_of(t.params, space).get(d.key) for t in trials]
        if d.choices is not None:
            labels = [json.dumps(c) if isinstance(c, tuple) else str(c) for c in d.choices]
            where = [labels.index(json.dumps(x) if isinstance(x, list) else str(x)) for x in xs]
            ax.scatter(where, [t.value for t in trials], s=12, alpha=0.7)
            ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize="small")
        else:
            ax.scatter(xs, [t.value for t in trials], s=12, alpha=0.7)
            if d.log:
                ax.set_xscale("log")
        if log_values:
            ax.set_yscale("log")
        ax.set_xlabel(d.key)
        ax.set_ylabel(metric)
    for ax in list(axes.flat)[len(space):]:
        ax.set_axis_off()
    fig.tight_layout()
    _save(fig, directory / "parameters.png", atomic_file)


def _importances(study) -> dict[str, float]:
    import optuna

    finished = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(finished) < 2 or len({t.value for t in finished}) < 2:
        return {}
    try:
        return optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # e.g. every trial with one parameter value
        return {}


def _save(fig, path: Path, atomic_file) -> None:
    import matplotlib.pyplot as plt

    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


__all__ = ["FIGURES", "draw_figures", "point_of", "rows", "write_outputs"]
