"""One worker of a study: ask a batch of trials, train them together, tell their values.

A batch of trials (``batch``, each with ``seeds`` seeds) is trained by
`gankit.engines.sweep.train_many`: on the fast path, one vectorised ensemble,
so a batch of 32 of the chapter's runs costs about what one does. After every
``report_every`` epochs each trial's value (the mean over its seeds) is reported
to Optuna, and a trial the pruner stops leaves the ensemble there while the
others train on. Every trial gets an ordinary run directory under
``STUDY/trials/``: a finished one with ``summary.json`` (`gankit eval`,
``report``, ``sample`` work on it), a pruned one as an interrupted run with its
checkpoint (``gankit train --resume`` trains it to the end).
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.config import Config
from gankit.errors import UserError
from gankit.tune.space import Dimension, suggest, trial_config

# Metrics with a value after every epoch, from the generator's Gaussian: these can be pruned on.
EPOCH_METRICS = ("fd_to_truth", "kl_to_truth", "fd_to_data_fit")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")


@dataclass
class TuneSettings:
    """What a worker does; see ``gankit tune --help`` for each."""

    space: list[Dimension]
    metric: str
    direction: str = "minimize"
    trials: int | None = 100
    budget: float | None = None
    seeds: int = 1
    aggregate: str = "mean"  # of a trial's seeds: mean or median
    batch: int = 16
    sampler: str = "tpe"
    sampler_seed: int | None = None
    pruner: str = "median"
    report_every: int = 0  # 0: epochs // 20
    progress: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def default_metric(base: Config) -> str:
    """``fd_to_truth`` for a target with a known truth, the image FD for images, else ``fd_to_data_fit``."""
    from gankit.data import TARGETS

    if base.data.source in TARGETS:
        target = TARGETS[base.data.source](base.data)
        return "fd_to_truth" if hasattr(target, "cov") else "fd_to_data_fit"
    if _is_images(base):
        return "quality.fd"
    return "fd_to_data_fit"


def _is_images(base: Config) -> bool:
    from gankit.data.sources import is_image

    return is_image(base.data.source)


def make_sampler(name: str, seed: int | None):
    import optuna

    if name == "tpe":  # the "constant liar" keeps a batch asked at once from piling onto one point
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"--sampler must be one of {', '.join(SAMPLERS)}, got '{name}'")


def report_interval(settings: "TuneSettings", epochs: int) -> int:
    """Epochs between a trial's reported values: ``--report-every``, else a tenth of the epochs."""
    return settings.report_every or max(1, epochs // 10)


def first_judged(epochs: int) -> int:
    """The first epoch a pruner may stop a trial at: a quarter of the way (a moving average of G
    lags behind G early on, so earlier values say little about the end)."""
    return max(1, epochs // 4)


def make_pruner(name: str, epochs: int, report_every: int):
    import optuna

    if name == "median":  # against finished trials at the same epoch
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=first_judged(epochs),
                                           interval_steps=report_every)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first_judged(epochs), max_resource=epochs)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"--pruner must be one of {', '.join(PRUNERS)}, got '{name}'")


def metric_value(summary: dict[str, Any], metric: str) -> float | None:
    """``summary``'s value at the dotted ``metric`` (``quality.fd``), if it is a finite number."""
    value: Any = summary
    for part in metric.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def check_metric(metric: str, base: Config) -> None:
    """Refuse a metric that no summary of this config has, in one line, before any trial."""
    points_keys = ("fd_to_truth", "kl_to_truth", "fd_to_data_fit", "mle_fd_to_truth", "mle_kl_to_truth", "loss_d",
                   "loss_g")
    if _is_images(base):
        if not (metric.startswith("quality.") or metric in ("loss_d", "loss_g")):
            raise UserError(f"--metric {metric}: an image run's summary has quality.* (quality.fd, quality.kid, "
                            "quality.fd_ratio, quality.recall, ...), loss_d and loss_g")
    elif metric not in points_keys:
        raise UserError(f"--metric {metric}: a point run's summary has {', '.join(points_keys)}")
    elif metric in ("fd_to_truth", "kl_to_truth") and default_metric(base) != "fd_to_truth":
        raise UserError(f"--metric {metric}: {base.data.source} has no known truth; use fd_to_data_fit")


def trial_dir(directory: Path, number: int) -> Path:
    return directory / "trials" / f"{number:05d}"


def run_worker(base: Config, settings: TuneSettings, store, directory: Path, say=print) -> dict[str, int]:
    """Work on the study until it has ``settings.trials`` trials or the budget is spent.

    Returns:
        How many trials this worker finished, by result (done, pruned, diverged, invalid).
    """
    began = time.monotonic()
    done: dict[str, int] = {}
    waited = False
    try:
        while True:
            if settings.budget is not None and time.monotonic() - began >= settings.budget:
                break
            with store.ask_lock():
                lost = store.reap()
                if lost:
                    say(f"trials {', '.join(map(str, lost))} were lost with their worker: asked again")
                    for number in lost:  # what a dead worker left half-written
                        shutil.rmtree(trial_dir(directory, number), ignore_errors=True)
                counted, running = store.counted()
                room = settings.batch if settings.trials is None else min(settings.batch, settings.trials - counted)
                trials = [store.ask() for _ in range(max(room, 0))]
                points = [suggest(t, settings.space) for t in trials]
            if not trials:
                if running == 0:
                    break
                if not waited:  # another worker's trials are still running: one of them may yet be lost
                    say(f"waiting for {running} trial(s) other workers are running")
                    waited = True
                time.sleep(min(store.heartbeat, 2.0) if store.kind == "journal" else store.heartbeat)
                continue
            waited = False
            for result in _run_batch(base, settings, store, directory, trials, points, say):
                done[result] = done.get(result, 0) + 1
    except BaseException:
        for number in store.abandon():  # asked again: what this worker half-wrote of them goes
            shutil.rmtree(trial_dir(directory, number), ignore_errors=True)
        raise
    return done


def _run_batch(base: Config, settings: TuneSettings, store, directory: Path, trials: list, points: list[dict],
               say) -> list[str]:
    from optuna.trial import TrialState

    from gankit.engines.sweep import train_many

    configs, owners, results = [], [], {}
    for trial, point in zip(trials, points):
        try:
            seeds = [trial_config(base, point, base.train.seed + s) for s in range(settings.seeds)]
        except UserError as err:  # a combination the config refuses (e.g. batch_size above n)
            store.tell(trial, TrialState.FAIL, result="invalid", attrs={"error": str(err)})
            say(f"trial {trial.number}: {err}")
            results[trial.number] = "invalid"
            continue
        for s, config in enumerate(seeds):
            configs.append(config)
            owners.append((trial, s))
    if configs:
        numbers = [t.number for t in trials if t.number not in results]
        say(f"training trial{'s' if len(numbers) > 1 else ''} {_span(numbers)} "
            f"({len(numbers)} x {settings.seeds} seed{'s' if settings.seeds > 1 else ''})")
    epochs = max((c.train.epochs for c in configs), default=1)
    every = report_interval(settings, epochs)
    watch = _Pruning(owners, settings, every) if (
        settings.metric in EPOCH_METRICS and settings.pruner != "none") else None
    trained = train_many(configs, progress=settings.progress, watch=watch, desc=f"trials {trials[0].number}+")
    by_trial: dict[int, list] = {}
    for (trial, s), config, run in zip(owners, configs, trained):
        by_trial.setdefault(trial.number, []).append((trial, s, config, run))
    from gankit.files import synced_once

    with synced_once():  # every run directory of the batch on disk, then its results told
        written = {number: _write(runs, settings, directory) for number, runs in by_trial.items()}
    for number, runs in by_trial.items():
        results[number] = _finish(runs[0][0], *written[number], settings, store, directory, watch, say)
    return [results[t.number] for t in trials]


class _Pruning:
    """`gankit.engines.sweep.Watch` for a batch: each trial's mean over its seeds, reported to Optuna."""

    def __init__(self, owners: list, settings: TuneSettings, every: int):
        self.owners, self.settings, self.every = owners, settings, every
        self.seeds = settings.seeds
        self.values: dict[tuple[int, int], list[float]] = {}  # (trial number, epoch) -> seeds' values so far
        self.pruned: dict[int, int] = {}  # trial number -> epoch it was pruned at
        self.fits: dict[int, tuple] = {}

    def __call__(self, index: int, state, mean, cov) -> bool:
        trial, _ = self.owners[index]
        if trial.number in self.pruned:
            return True
        epoch = state.epoch
        if epoch % self.every and epoch != state.config.train.epochs:
            return False
        value = self._value(index, state, mean, cov)
        values = self.values.setdefault((trial.number, epoch), [])
        values.append(value if math.isfinite(value) else math.inf)
        if len(values) < self.seeds:
            return False
        del self.values[(trial.number, epoch)]
        report = _aggregate(values, self.settings.aggregate)
        if math.isfinite(report):
            trial.report(report, epoch)
        if epoch >= first_judged(state.config.train.epochs) and epoch < state.config.train.epochs \
                and trial.should_prune():
            self.pruned[trial.number] = epoch
            return True
        return False

    def _value(self, index: int, state, mean, cov) -> float:
        import torch

        from gankit.metrics.gaussian import frechet_distance, gaussian_fit, kl_gaussians

        m, c = torch.from_numpy(mean), torch.from_numpy(cov)
        metric = self.settings.metric
        target = state.dataset.target
        if metric == "fd_to_data_fit":
            if index not in self.fits:
                self.fits[index] = gaussian_fit(state.dataset.train)
            return frechet_distance(m, c, *self.fits[index])
        if metric == "fd_to_truth":
            return frechet_distance(m, c, target.mean, target.cov)
        return kl_gaussians(target.mean, target.cov, m, c)


def _write(runs: list, settings: TuneSettings, directory: Path) -> tuple[list, list[str]]:
    """Write a trial's run directories; returns its seeds' values (finished ones) and statuses."""
    from gankit.runs.experiment import write_trained_run

    home = trial_dir(directory, runs[0][0].number)
    values, statuses = [], []
    for _, s, config, run in runs:
        where = home if settings.seeds == 1 else home / f"seed-{s}"
        if run.state is not None:
            summary = write_trained_run(where, run.state, run.engine, complete=run.status == "done")
            if run.status == "done":
                values.append(metric_value(summary, settings.metric))
        statuses.append(run.status)
    return values, statuses


def _finish(trial, values: list, statuses: list[str], settings: TuneSettings, store, directory: Path, watch,
            say) -> str:
    """Tell Optuna the trial's value (its run directories are on disk); returns its result."""
    from optuna.trial import TrialState

    home = trial_dir(directory, trial.number)
    attrs = {"run_dir": str(home.relative_to(directory)), "seeds": settings.seeds}
    params = ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in trial.params.items())
    if "diverged" in statuses:
        store.tell(trial, TrialState.FAIL, result="diverged", attrs=attrs)
        say(f"trial {trial.number}: diverged ({params})")
        return "diverged"
    if "stopped" in statuses:
        epoch = watch.pruned.get(trial.number) if watch is not None else None
        store.tell(trial, TrialState.PRUNED, result="pruned", attrs={**attrs, "pruned_at_epoch": epoch})
        say(f"trial {trial.number}: pruned at epoch {epoch} ({params})")
        return "pruned"
    if not values or any(v is None for v in values):
        store.tell(trial, TrialState.FAIL, result="no value", attrs=attrs)
        say(f"trial {trial.number}: no finite {settings.metric} ({params})")
        return "no value"
    value = _aggregate(values, settings.aggregate)
    if not store.tell(trial, TrialState.COMPLETE, value=value, result="done",
                      attrs={**attrs, "seed_values": values} if settings.seeds > 1 else attrs):
        say(f"trial {trial.number}: given up as lost meanwhile (no heartbeat for too long); its retry counts instead")
        return "lost"
    best = _best_line(store.study, settings)
    say(f"trial {trial.number}: {settings.metric} {value:.5g} ({params}){best}")
    return "done"


def _span(numbers: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(parts)


def _aggregate(values: list[float], how: str) -> float:
    """A trial's value from its seeds' values."""
    return statistics.median(values) if how == "median" else statistics.fmean(values)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best_line(study, settings: TuneSettings) -> str:
    try:
        best = study.best_trial
    except ValueError:
        return ""
    return f"; best {best.value:.5g} (trial {best.number})"


__all__ = ["EPOCH_METRICS", "PRUNERS", "SAMPLERS", "TuneSettings", "check_metric", "default_metric", "make_pruner",
           "make_sampler", "metric_value", "run_worker", "trial_dir"]
