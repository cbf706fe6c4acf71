"""Pictures of a sweep, drawn from its rows and final networks (matplotlib object API)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from matplotlib.colors import LogNorm

from gankit.files import atomic_file
from gankit.viz.plots import draw_scatter
from gankit.viz.style import figure


def _label(value) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def median_table(rows: list[dict], keys: list[str], metric: str = "fd_to_truth"):
    """Median of ``metric`` per value of the first two grid keys (others and seeds pooled).

    Returns:
        (values of key 0, values of key 1 (``[None]`` for a 1-D grid), (len0, len1) array).
    """
    first = sorted({row[keys[0]] for row in rows})
    second = sorted({row[keys[1]] for row in rows}) if len(keys) > 1 else [None]
    table = np.full((len(first), len(second)), np.nan)
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            values = [row[metric] for row in rows if row[keys[0]] == a and (b is None or row[keys[1]] == b)
                      and row[metric] is not None]
            if values:
                table[i, j] = float(np.median(values))
    return first, second, table


def plot_heatmap(rows: Sequence[dict[str, Any]], keys: list[str], metric: str = "fd_to_truth",
                 path: Path | None = None):
    """Median ``metric`` over seeds for each cell of the first two grid keys.

    Other grid keys, if any, are pooled with the seeds. Cells are annotated with
    the median; the colour scale is logarithmic. A grid of one key has no second
    axis to spread over: it gets `plot_medians` instead.
    """
    if len(keys) == 1:
        return plot_medians(rows, keys[0], metric, path)
    first, second, table = median_table(list(rows), keys, metric)
    fig = figure(max(4.8, 1.8 + 1.1 * len(second)), max(3.2, 1.4 + 0.6 * len(first)))
    ax = fig.add_subplot()
    finite = table[np.isfinite(table) & (table > 0)]
    norm = LogNorm(vmin=finite.min(), vmax=max(finite.max(), finite.min() * 1.0001)) if finite.size else None
    image = ax.imshow(np.where(table > 0, table, np.nan), cmap="viridis_r", norm=norm, aspect="auto")
    for i in range(len(first)):
        for j in range(len(second)):
            if np.isfinite(table[i, j]):
                ax.text(j, i, f"{table[i, j]:.3g}", ha="center", va="center", fontsize="small",
                        color="white" if norm is not None and table[i, j] > 0 and norm(table[i, j]) > 0.6 else "black")
    ax.set_yticks(range(len(first)), [_label(v) for v in first])
    ax.set_ylabel(keys[0])
    ax.set_xticks(range(len(second)), [_label(v) for v in second])
    ax.set_xlabel(keys[1])
    per_cell = len(rows) // table.size if table.size else 0
    ax.set_title(f"median {metric}\n({per_cell} runs per cell)", fontsize="medium")
    if norm is not None:
        fig.colorbar(image, ax=ax, label=metric)
    if path is not None:
        with atomic_file(path) as tmp:
            fig.savefig(tmp)
    return fig


def plot_medians(rows: Sequence[dict[str, Any]], key: str, metric: str = "fd_to_truth", path: Path | None = None):
    """``metric`` per value of one grid key: every run as a dot, the median as a bar, p10 to p90 as a line.

    Values sit evenly spaced in their order (numbers sorted, so 0.005, 0.05, 0.5
    are equally apart); the scale is logarithmic when the values are positive and
    span more than a factor of ten. Runs without the metric (diverged, skipped)
    are counted under their value's label, by status.
    """
    values = sorted({row[key] for row in rows}, key=lambda v: (isinstance(v, str), v))
    fig = figure(max(4.8, 1.6 + 0.9 * len(values)), 3.6)
    ax = fig.add_subplot()
    labels, everything = [], []
    for i, value in enumerate(values):
        got = np.array([row[metric] for row in rows if row[key] == value and row[metric] is not None], dtype=float)
        missing = Counter(row.get("status", "no value") for row in rows if row[key] == value and row[metric] is None)
        labels.append("\n".join([_label(value), *(f"({n} {status})" for status, n in sorted(missing.items()))]))
        if not len(got):
            continue
        everything.append(got)
        first = len(everything) == 1  # label the legend once
        jitter = np.linspace(-0.18, 0.18, len(got)) if len(got) > 1 else np.zeros(1)
        ax.scatter(i + jitter, got, s=10, color="#1f77b4", alpha=0.35, linewidths=0,
                   label="a run" if first else None)
        p10, median, p90 = np.percentile(got, [10, 50, 90])
        ax.plot([i, i], [p10, p90], color="black", linewidth=1.5, label="p10 to p90" if first else None)
        ax.plot([i - 0.3, i + 0.3], [median, median], color="#d62728", linewidth=2.5,
                label="median" if first else None)
    if everything:
        pooled = np.concatenate(everything)
        if (pooled > 0).all() and pooled.max() > 10 * pooled.min():
            ax.set_yscale("log")
    ax.set_xticks(range(len(values)), labels)
    ax.set_xlim(-0.6, len(values) - 0.4)
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    counts = sorted({sum(1 for row in rows if row[key] == v) for v in values})
    per_value = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    ax.set_title(f"{metric} per {key}\n({per_value} runs per value)", fontsize="medium")
    ax.legend(fontsize="small", loc="best")
    if path is not None:
        with atomic_file(path) as tmp:
            fig.savefig(tmp)
    return fig


def plot_sample_panel(rows: Sequence[dict[str, Any]], states: Sequence, count: int = 12, points: int = 100,
                      path: Path | None = None):
    """Final real-vs-generated scatter plots for up to ``count`` runs spread evenly over the sweep.

    Generated points come from fixed noise (seed 0), real ones are each run's
    first ``points`` training points.
    """
    trained = [i for i, row in enumerate(rows) if row.get("status", "done") == "done"]
    if not trained:
        return None
    spread = np.linspace(0, len(trained) - 1, min(count, len(trained))).round().astype(int)
    picks = sorted({trained[j] for j in spread.tolist()})
    cols = min(4, len(picks))
    nrows = -(-len(picks) // cols)
    fig = figure(3.2 * cols, 2.9 * nrows)
    z = torch.randn(points, states[picks[0]].config.model.latent_dim, generator=torch.Generator().manual_seed(0))
    for slot, index in enumerate(picks):
        ax = fig.add_subplot(nrows, cols, slot + 1)
        state, row = states[index], rows[index]
        with torch.no_grad():
            fake = state.G(z).float()
        varied = ", ".join(f"{k.split('.')[-1]}={_label(row[k])}" for k in row if "." in k)
        fd = row.get("fd_to_truth")
        title = f"seed {row['seed']}" + (f", {varied}" if varied else "") + (f"\nFD {fd:.3g}" if fd is not None else "")
        draw_scatter(ax, state.dataset.train[:points], fake, title=title)
        ax.title.set_fontsize("small")
        if slot and ax.get_legend() is not None:
            ax.get_legend().remove()  # one legend is enough
    if path is not None:
        with atomic_file(path) as tmp:
            fig.savefig(tmp)
    return fig
