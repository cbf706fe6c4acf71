"""Many runs of one problem, over seeds and grids of hyperparameters, trained together.

Runs that differ only in per-run numbers (seed, learning rates, betas, init
scale) share every array shape, so they are stacked on the leading "runs"
axis of `gankit.engines.ensemble.Ensemble` and trained in lockstep: one NumPy call
advances all of them. Each run still draws from its own ``torch.Generator``
exactly what ``gankit train`` with that config draws (data, initial weights,
each epoch's order and noise), so a run in a sweep is the run trained alone.
Runs whose grid values change shapes (``batch_size``, ``n``, ``epochs``, ...)
form separate ensembles; a model the fast path does not implement is trained
run by run with the general loop.

The sweep directory is written by `gankit.runs.sweep`.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from gankit import streams
from gankit.config import Config, resolve_key
from gankit.engines.fast import Divergence, Judge, Stopped, run_fast, why_not_fast
from gankit.engines.guard import Diverged
from gankit.engines.state import Callback, TrainState
from gankit.engines.training import build_state, train
from gankit.errors import UserError
from gankit.metrics.summary import summarize

# Keys that never change an array's shape: runs differing only in these share one ensemble.
PER_RUN_KEYS = ("train.seed", "train.lr_d", "train.lr_g", "train.beta1", "train.beta2", "model.init_std")
# Scalar columns of runs.csv after the varied keys (runs.json adds the generator's Gaussian).
ROW_METRICS = ("loss_d", "loss_g", "fd_to_truth", "kl_to_truth", "mle_fd_to_truth", "mle_kl_to_truth",
               "fd_to_data_fit")
# Mode metrics of a mixture target's runs (null for other data): the generator's 1000 points on
# `gankit eval`'s own noise (its default seed), so a sweep's row says what `gankit eval` of that run would.
MODE_METRICS = ("modes_captured", "high_quality_fraction")
ENSEMBLE_RUNS = 1024  # largest ensemble trained at once (bounds memory)


def parse_grid(items: Sequence[str], base: Config) -> list[tuple[str, list]]:
    """``["lr_d=0.005,0.05", ...]`` -> ``[("train.lr_d", [0.005, 0.05]), ...]``.

    Keys are config keys, bare or dotted; values are of that key's type: numbers, or
    names for keys that take a name (``loss=nonsaturating,hinge``).

    Raises:
        UserError: not KEY=V1,V2,...; an unknown or repeated key; ``seed``
            (use --seeds); an empty list; a value of the wrong type, or one the
            key does not accept.
    """
    grid: list[tuple[str, list]] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--grid '{item}' must look like KEY=V1,V2,...")
        section, name = resolve_key(key, where="--grid")
        dotted = f"{section}.{name}"
        if dotted == "train.seed":
            raise UserError("--grid seed: use --seeds N to sweep over seeds")
        if any(dotted == k for k, _ in grid):
            raise UserError(f"--grid {key}: key given twice")
        cells = [c.strip() for c in text.split(",")]
        if not any(cells):
            raise UserError(f"--grid {key}: empty list of values")
        values = []
        for cell in cells:
            if not cell:
                raise UserError(f"--grid {key}: empty value in '{text}'")
            trial = copy.deepcopy(base)
            trial.set(dotted, typed_cell(f"--grid {key}", cell, type(getattr(getattr(base, section), name))),
                      where=f"--grid {key}")
            trial.validate()  # the value's own constraint, named in one line
            values.append(getattr(getattr(trial, section), name))
        grid.append((dotted, values))
    return grid


def typed_cell(where: str, cell: str, kind: type):
    """One value typed on the command line as its key's type: text for names (``loss=hinge``), else a
    finite number (an int when written as one) or a bool; `UserError` naming ``where`` otherwise."""
    if kind is str:
        return cell
    if kind is bool:
        if cell.lower() not in ("true", "false"):
            raise UserError(f"{where}: '{cell}' is not true or false")
        return cell.lower() == "true"
    try:
        number = float(cell)
    except ValueError:
        raise UserError(f"{where}: '{cell}' is not a number") from None
    if not math.isfinite(number):
        raise UserError(f"{where}: '{cell}' is not a finite number")
    return int(number) if number.is_integer() and "." not in cell and "e" not in cell.lower() else number


def sweep_configs(base: Config, grid: list[tuple[str, list]], seeds: int) -> list[tuple[dict, Config]]:
    """Every (grid point, seed): ``({key: value, ...}, validated config)``, seeds innermost.

    Seeds are ``base.train.seed`` + 0 .. seeds - 1.
    """
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    _check_size(base, seeds, math.prod(len(values) for _, values in grid))
    keys = [k for k, _ in grid]
    runs = []
    for point in itertools.product(*[values for _, values in grid]):
        for i in range(seeds):
            config = copy.deepcopy(base)
            for key, value in zip(keys, point):
                config.set(key, value)
            config.train.seed = base.train.seed + i
            config.validate()
            runs.append((dict(zip(keys, point)), config))
    return runs


def _check_size(base: Config, seeds: int, points: int) -> None:
    """Refuse, before any config is built, a sweep whose runs cannot all be held in memory at once.

    `_run_sweep` builds every run's state (data, networks, optimisers) before training; their
    size is estimated from ``base`` (a data file's own size is not known yet: only the
    per-run overhead counts for it).
    """
    from gankit.data import TARGETS
    from gankit.data.memory import FLOAT, RUN_OVERHEAD, parameter_count, require

    runs = seeds * points
    per_run = RUN_OVERHEAD
    if base.data.source in TARGETS:
        d = TARGETS[base.data.source](base.data).dim
        # the points and their copy; weights, gradients and Adam's two moments
        per_run += FLOAT * (2 * base.data.n * d + 4 * parameter_count(base.model, (d,)))
    require({"the runs' data, networks and optimisers": (runs * per_run, "lower --seeds or the --grid values")},
            f"a sweep of {runs} runs ({seeds} seeds x {points} grid points)")


@dataclass
class SweepResult:
    """Rows (one per run), timing, and the trained states (for pictures)."""

    grid: list[tuple[str, list]]
    rows: list[dict[str, Any]]
    states: list[Any]
    seconds: float
    examples: int
    engines: dict[str, int] = field(default_factory=dict)

    @property
    def examples_per_sec(self) -> float:
        """Aggregate examples/sec of all runs over the training time."""
        return self.examples / self.seconds if self.seconds > 0 else math.inf


def run_sweep(base: Config, grid: list[tuple[str, list]], seeds: int, progress: bool | None = None,
              budget: float | None = None) -> SweepResult:
    """Train every run of the sweep; no files written.

    Args:
        base: the config every run starts from.
        grid: from `parse_grid`.
        seeds: runs per grid point.
        progress: show a progress bar over all runs' epochs (default: if stderr is a terminal).
        budget: wall-clock seconds; once spent, no further group of runs is started
            and the runs left are rows with ``status`` ``"skipped"`` (None: no limit).
    """
    runs = sweep_configs(base, grid, seeds)
    with _torch_threads(1):
        return _run_sweep(runs, grid, progress, budget)


@contextlib.contextmanager
def _torch_threads(count: int):
    """Limit torch's intra-op threads for a while, then restore them.

    The sweep's torch work is thousands of tiny calls (building each run,
    drawing its order and noise); on a busy machine, worker threads that spin
    between them make setting up 1024 runs several times slower (measured: 3-4 s
    with one thread against 16-19 s with two on 2 cores), and the ensemble's
    arithmetic is NumPy anyway.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_sweep(runs: list[tuple[dict, Config]], grid: list[tuple[str, list]], progress: bool | None,
               budget: float | None) -> SweepResult:
    trained = train_many([c for _, c in runs], progress=progress, budget=budget, desc="sweep")
    rows, engines = [], {}
    for i, ((point, config), run) in enumerate(zip(runs, trained)):
        if run.status == "skipped":
            rows.append(_skipped(i, point, config))
            continue
        engines[run.engine] = engines.get(run.engine, 0) + 1
        rows.append(_row(i, point, run.state, run.engine, run.divergence))
    states = [run.state for run in trained]
    seconds = sum({run.group: run.seconds for run in trained if run.status != "skipped"}.values())
    examples = sum(s.dataset.train.shape[0] * s.epoch for s in states if s is not None)
    return SweepResult(grid, rows, states, seconds, examples, engines)


@dataclass
class Trained:
    """One config of `train_many`, trained (or not).

    Attributes:
        state: the trained `TrainState` (None where the budget left it untrained).
        engine: ``"fast"`` (trained in a vectorised ensemble) or ``"general"`` (on its own).
        status: ``"done"``, ``"diverged"`` (``divergence`` says where), ``"stopped"`` (``watch``
            stopped it after ``state.epoch`` epochs) or ``"skipped"`` (the budget ran out).
        seconds: training time of the group it was trained in (an ensemble's runs share it).
        group: which group it was trained in (0, 1, ...: runs of one ensemble share one).
    """

    state: TrainState | None
    engine: str | None
    status: str
    divergence: Divergence | None = None
    seconds: float = 0.0
    group: int = -1


# Called after every epoch of a point-data run: (index in the configs, its state, the generator's
# mean (d,) and covariance (d, d) in float64) -> True to stop that run there.
Watch = Callable[[int, TrainState, np.ndarray, np.ndarray], bool]
WATCH_POINTS = 2000  # noise rows of a non-affine generator's Gaussian fit for `Watch`


def train_many(configs: Sequence[Config], progress: bool | None = None, budget: float | None = None,
               watch: Watch | None = None, desc: str = "runs") -> list[Trained]:
    """Train any list of configs, together where they can be: the library's call behind sweeps and tuning.

    Configs that are equal but for `PER_RUN_KEYS` (seeds, learning rates, betas, init
    scale) and that the fast path implements are stacked into one vectorised ensemble
    (at most `ENSEMBLE_RUNS` at a time) and trained in lockstep; every other config is
    trained on its own by the general loop. Either way each run draws exactly what
    ``gankit train`` with its config draws, so its state equals the run trained alone.

    Args:
        configs: validated configs, in any mix.
        progress: a progress bar over all runs' epochs (default: if stderr is a terminal).
        budget: wall-clock seconds; once spent, no further group starts, and the runs
            left are ``"skipped"`` (None: no limit).
        watch: see `Watch`; lets a caller stop runs early (a tuner's pruning) while the
            others in their ensemble carry on. Not called for image runs.
        desc: the progress bar's label.

    Returns:
        One `Trained` per config, in order.
    """
    from tqdm.auto import tqdm

    disable = (not progress) if progress is not None else not sys.stderr.isatty()
    bar = tqdm(total=sum(c.train.epochs for c in configs), desc=desc, unit="run-epoch",
               disable=disable, file=sys.stderr, smoothing=0)
    out: list[Trained | None] = [None] * len(configs)
    began = time.perf_counter()
    try:
        with _torch_threads(1):
            for g, group in enumerate(_groups(list(configs), ENSEMBLE_RUNS)):
                if budget is not None and time.perf_counter() - began > budget:
                    for i in group:
                        out[i] = Trained(None, None, "skipped")
                    continue
                states = [build_state(configs[i]) for i in group]  # data and weights, from each run's seed
                started = time.perf_counter()
                engine, outcome = _train_group(states, bar, None if watch is None else (
                    lambda r, state, mean, cov: watch(group[r], state, mean, cov)))
                seconds = time.perf_counter() - started
                for i, state, result in zip(group, states, outcome):
                    status = ("diverged" if isinstance(result, Divergence) else
                              "stopped" if isinstance(result, Stopped) else "done")
                    out[i] = Trained(state, engine, status, result if status == "diverged" else None, seconds, g)
    finally:
        bar.close()
    return out


def _groups(configs: list[Config], limit: int) -> list[list[int]]:
    """Indices of runs that can share an ensemble: equal configs but for `PER_RUN_KEYS`."""
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        shape = config.to_dict()
        for key in PER_RUN_KEYS:
            section, name = key.split(".")
            shape[section].pop(name)
        groups.setdefault(repr(shape), []).append(i)
    return [ids[j:j + limit] for ids in groups.values() for j in range(0, len(ids), limit)]


def _judge(watch, states: list) -> Judge:
    """`run_fast`'s judge that calls ``watch`` with each live run's generator Gaussian."""
    config = states[0].config
    noise = streams.numpy_generator(config.train.seed, "watch").standard_normal(
        (WATCH_POINTS, config.model.latent_dim)).astype(np.float32)
    scale = states[0].D.in_scale

    def judge(ens, live):
        means, covs = ens.generator_gaussians(noise, scale)
        return [r for r in live if watch(r, states[r], means[r], covs[r])]

    return judge


class _StopRun(Exception):
    """Raised by `_Watcher` to end a run of the general loop where ``watch`` asked."""


class _Watcher(Callback):
    """`Watch` for a run of the general loop: its generator's Gaussian after every epoch."""

    def __init__(self, position: int, watch):
        self.position, self.watch = position, watch

    def on_epoch_end(self, state: TrainState) -> None:
        from gankit.metrics.gaussian import generator_gaussian

        G = state.G_ema if state.G_ema is not None else state.G
        mean, cov, _ = generator_gaussian(G, state.config.model.latent_dim, n=WATCH_POINTS,
                                          seed=streams.seed(state.config.train.seed, "watch"))
        if self.watch(self.position, state, mean.numpy(), cov.numpy()):
            raise _StopRun


def _train_group(states: list, bar, watch=None) -> tuple[str, list[Divergence | Stopped | None]]:
    """Train runs sharing every shape; returns the engine used and each run's outcome (None: every epoch ran)."""
    config = states[0].config
    reason = why_not_fast(config, states[0])
    points = len(states[0].dataset.shape) == 1
    if reason is not None and config.train.engine == "fast":
        raise UserError(f"train.engine=fast does not apply: {reason}")
    if config.train.engine == "fast" or (config.train.engine == "auto" and reason is None):
        judge = None if watch is None else _judge(watch, states)
        return "fast", run_fast(states, sync=False, on_epoch=bar.update, judge=judge)

    class Tick(Callback):
        def on_epoch_end(self, state):
            bar.update(1)

    outcome: list[Divergence | Stopped | None] = []
    for r, state in enumerate(states):
        callbacks = [Tick()] + ([_Watcher(r, watch)] if watch is not None and points else [])
        try:
            train(state.config, callbacks, state=state)
            outcome.append(None)
        except Diverged as err:
            outcome.append(Divergence(err.epoch, err.step))
        except _StopRun:
            outcome.append(Stopped(state.epoch))
    return "general", outcome


def _row(index: int, point: dict, state: TrainState, engine: str, divergence: Divergence | None) -> dict[str, Any]:
    """One run's row: its grid point and seed, then its metrics (null for a run that diverged)."""
    row: dict[str, Any] = {"run": index, "seed": state.config.train.seed, **point, "engine": engine,
                           "status": "done", "diverged_at_epoch": None, "diverged_at_step": None}
    if divergence is not None:
        row.update(status="diverged", diverged_at_epoch=divergence.epoch, diverged_at_step=divergence.step)
        row.update({k: None for k in (*ROW_METRICS, *MODE_METRICS)}, generated_mean=None, generated_cov=None)
        return row
    summary = summarize(state, math.nan)
    row.update({k: _finite(summary[k]) for k in ROW_METRICS})
    row.update(_modes(state))
    row.update(generated_mean=summary["generated_mean"], generated_cov=summary["generated_cov"])
    return row


def _modes(state: TrainState, n: int = 1000) -> dict[str, Any]:
    """`MODE_METRICS` of the run's generator (G_ema where kept) for a mixture target, else nulls."""
    import torch

    from gankit import streams
    from gankit.metrics.modes import mode_metrics

    target = state.dataset.target
    if target is None or not hasattr(target, "means"):
        return {k: None for k in MODE_METRICS}
    G = state.G_ema if state.G_ema is not None else state.G
    z = torch.randn(n, state.config.model.latent_dim, generator=streams.generator(0, "eval.fake"))  # (n, k)
    with torch.no_grad():
        fake = G(z).float()
    metrics = mode_metrics(fake, target.means, target.covs, target.weights)
    return {k: _finite(float(metrics[k])) if k == "high_quality_fraction" else metrics[k] for k in MODE_METRICS}


def _skipped(index: int, point: dict, config: Config) -> dict[str, Any]:
    """The row of a run the time budget left untrained."""
    return {"run": index, "seed": config.train.seed, **point, "engine": None, "status": "skipped",
            "diverged_at_epoch": None, "diverged_at_step": None, **{k: None for k in (*ROW_METRICS, *MODE_METRICS)},
            "generated_mean": None, "generated_cov": None}


def _finite(value):
    """JSON has no NaN or infinity: such a number is written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


__all__ = ["MODE_METRICS", "PER_RUN_KEYS", "ROW_METRICS", "SweepResult", "Trained", "Watch", "parse_grid", "run_sweep",
           "sweep_configs", "train_many", "typed_cell"]
