"""Hyperparameter search on Optuna: `tune` is what ``gankit tune`` calls.

A study directory (``--out``)::

    tune.json       what the study searches: the fixed config, the space, metric, seeds
                    (a worker started on this directory with other settings is refused)
    study.journal   Optuna's journal (unless --storage puts the study elsewhere)
    trials/NNNNN/   one ordinary run directory per trial (seed-S/ inside with --seeds > 1)
    trials.csv, best.json, study.json, history.png, importance.png, parameters.png
                    (see `gankit.tune.outputs`)

See `gankit.tune.study` for how workers share a study and `gankit.tune.run` for
how a batch of trials trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from gankit.config import Config
from gankit.errors import UserError
from gankit.tune.run import (EPOCH_METRICS, TuneSettings, check_metric, default_metric, make_pruner, make_sampler, report_interval,
                             run_worker)
from gankit.tune.space import Dimension, parse_space

SPEC = "tune.json"


@dataclass
class TuneOutcome:
    directory: Path
    info: dict[str, Any]  # study.json's contents
    finished: dict[str, int]  # this worker's trials by result


def tune(base: Config, space: Sequence[str] | Sequence[Dimension], out: str | Path, settings: TuneSettings | None = None,
         space_file: str | Path | None = None, storage: str | None = None, study: str | None = None,
         heartbeat: float = 10.0, plots: bool = True, say: Callable[[str], None] = print) -> TuneOutcome:
    """Work on the study in ``out`` (created, or continued) until it is done; write its outputs.

    Everything is checked before the directory is made or a trial starts: the space
    (each bound and choice set on ``base`` and validated), the metric, the storage.

    Args:
        base: the fixed part of every trial's config (validated).
        space: ``--space`` texts, or parsed `Dimension` objects.
        out: the study directory.
        settings: see `TuneSettings` (its ``space`` and an empty ``metric`` are filled in here).
        space_file: a JSON space file (see `gankit.tune.space`).
        storage: None (a journal in ``out``), ``journal:PATH`` or ``postgresql://...``.
        study: the study's name in the storage (default: ``out``'s name).
        heartbeat: PostgreSQL heartbeat seconds.
        plots: draw the figures.
        say: where the per-trial lines go.
    """
    from gankit.tune.outputs import write_outputs
    from gankit.tune.study import StudyStore, _redact

    settings = settings or TuneSettings(space=[], metric="")
    base = base.validate()
    dims = list(space) if space and isinstance(space[0], Dimension) else parse_space(list(space), base, space_file)
    settings.space = dims
    settings.metric = settings.metric or default_metric(base)
    check_metric(settings.metric, base)
    make_sampler(settings.sampler, settings.sampler_seed)
    make_pruner(settings.pruner, base.train.epochs, settings.report_every or 1)
    if not settings.batch:
        from gankit.tune.run import _is_images

        settings.batch = 1 if _is_images(base) else 16
    if settings.pruner != "none" and settings.metric not in EPOCH_METRICS:
        say(f"note: {settings.metric} has no per-epoch value, so trials are not pruned")
    directory = Path(out)
    name = study or directory.name
    spec = {"config": base.to_dict(), "space": [d.describe() for d in dims], "metric": settings.metric,
            "direction": settings.direction, "seeds": settings.seeds, "aggregate": settings.aggregate, "study": name,
            "storage": _redact(storage) if storage else None}
    created = _claim(directory, spec)
    every = report_interval(settings, base.train.epochs)
    try:
        store = StudyStore(directory, storage, name, settings.direction,
                           make_sampler(settings.sampler, settings.sampler_seed),
                           make_pruner(settings.pruner, base.train.epochs, every), heartbeat=heartbeat)
    except BaseException:  # a storage that cannot be reached or read: leave no new directory behind
        if created:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)
        raise
    try:
        finished = run_worker(base, settings, store, directory, say=say)
        info = write_outputs(store.study, base, dims, directory, settings.metric, settings.direction,
                             store.where, plots=plots)
    except Exception as err:
        if not _storage_error(err):
            raise
        raise UserError(f"lost the study's storage {store.where} ({type(err).__name__}: {str(err).strip()[:200]}); "
                        "the trials it was training are asked again when a worker starts") from None
    finally:
        store.close()
    return TuneOutcome(directory, info, finished)


def _storage_error(err: Exception) -> bool:
    """Whether ``err`` comes from the study's database (a server gone, a connection dropped)."""
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # optuna brings SQLAlchemy; without it no database was in use
        return False
    import optuna

    return isinstance(err, (SQLAlchemyError, optuna.exceptions.StorageInternalError))


def _claim(directory: Path, spec: dict[str, Any]) -> bool:
    """Make the study directory, or join it when it holds this same study; anything else is refused.

    Returns:
        Whether the directory's study is new (made here).
    """
    from gankit.config import parse_json
    from gankit.files import _mkdir, write_json

    path = directory / SPEC
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} already exists (a file); choose another --out")
    if directory.is_dir() and any(directory.iterdir()):
        if not path.is_file():
            raise UserError(f"{directory} holds something that is not a gankit study (no {SPEC}); "
                            "choose another --out")
        try:
            held = parse_json(path.read_text(errors="replace"), str(path))
        except OSError as err:
            raise UserError(f"{path}: cannot read ({err.strerror})") from None
        if not isinstance(held, dict):
            raise UserError(f"{path}: not a study's description")
        differ = sorted(k for k in spec if held.get(k) != spec[k])
        if differ:
            raise UserError(f"{directory} holds another study (its {', '.join(differ)} differ from these "
                            "settings); continue it with its own settings, or choose another --out")
        return False
    _mkdir(directory, parents=True, exist_ok=True)
    write_json(path, spec)
    return True


__all__ = ["TuneOutcome", "TuneSettings", "tune"]
