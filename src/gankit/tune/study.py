"""Where a study lives and how its workers share it: storage, the ask lock, lost trials.

Storage is Optuna's:

- embedded (the default): a journal file, ``STUDY_DIR/study.journal``, which Optuna
  appends to under a file lock, so several processes on one machine share it safely
  (SQLite does not); ``--storage journal:PATH`` puts it elsewhere, on a shared
  filesystem for several machines;
- ``--storage postgresql://USER@HOST:PORT/DB``: Optuna's RDB storage on PostgreSQL
  (psycopg 3 underneath), for workers on many machines.

Workers coordinate through the storage alone, with two additions of ours:

- **the ask lock**: counting the study's trials and asking for the next batch happen
  under one lock (``fcntl.flock`` beside a journal, ``pg_advisory_lock`` on PostgreSQL),
  so ``--trials N`` is exactly N however many workers ask at once. On PostgreSQL the
  schema and the study are also created under such a lock: Optuna's table creation
  races when several workers start on a fresh database at once.
- **lost trials**: a trial whose worker died (SIGKILL, a lost machine) is marked failed
  and asked again with the same parameters, once per loss. A worker beside a journal
  holds an ``flock`` on its own file in ``workers/`` for as long as it lives, which the
  kernel releases however it dies, so its trials are seen lost at once; on PostgreSQL,
  Optuna's heartbeat (``heartbeat_interval``, ``grace_period``) finds them.

A trial counts towards ``--trials`` unless it was lost (its retry counts instead) or
is still waiting to be asked.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any, Iterator

from gankit.errors import UserError

WORKER_ATTR = "gankit_worker"  # user attribute: the worker that asked the trial
RESULT_ATTR = "gankit"  # user attribute, set before tell: {"result": done, pruned, diverged, ..., "run_dir": ...}
RETRY_ATTR = "gankit_retry_of"  # user attribute: the number of the lost trial this one repeats
JOURNAL = "study.journal"


def _sqlalchemy_url(url: str) -> str:
    """``postgresql://`` as SQLAlchemy reaches it through psycopg 3 (its default driver would be psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _lock_key(*parts: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock`` from ``parts``."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class StudyStore:
    """One worker's handle on a study: the Optuna study, its ask lock and its lost trials.

    Args:
        directory: the study directory (trials' run directories, outputs; the journal by default).
        storage: None (the journal in ``directory``), ``journal:PATH`` or a PostgreSQL URL.
        name: the study's name in the storage.
        direction: ``"minimize"`` or ``"maximize"``.
        sampler, pruner: Optuna objects.
        heartbeat: seconds between a PostgreSQL worker's heartbeats; a trial whose
            heartbeat is ``3 * heartbeat`` old is lost.
    """

    def __init__(self, directory: Path, storage: str | None, name: str, direction: str, sampler, pruner,
                 heartbeat: float = 10.0):
        import optuna

        self.directory = Path(directory)
        self.worker = uuid.uuid4().hex[:12]
        self.heartbeat = heartbeat
        self._running: set[int] = set()  # trial ids this worker is training
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pg = None
        self._keep: contextlib.ExitStack = contextlib.ExitStack()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # We call the experimental heartbeat API by design, and run the heartbeat ourselves (`_beat`).
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        if storage is None or storage.startswith("journal:"):
            journal = Path(storage[len("journal:"):]) if storage else self.directory / JOURNAL
            self.kind, self.where = "journal", str(journal)
            self._lock_path = journal.with_name(journal.name + ".ask-lock")
            self._workers = journal.with_name(journal.name + ".workers")
            self._workers.mkdir(exist_ok=True)
            self._hold_worker_file()
            from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

            try:  # the whole journal is replayed here: a damaged or foreign one is refused now, in one line
                self.storage = JournalStorage(JournalFileBackend(str(journal), JournalFileOpenLock(str(journal))))
                with self.ask_lock():
                    self.study = optuna.create_study(storage=self.storage, study_name=name, direction=direction,
                                                     sampler=sampler, pruner=pruner, load_if_exists=True)
            except (AssertionError, KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
                self._keep.close()
                raise UserError(f"{journal}: not a journal Optuna can replay (damaged or edited: "
                                f"{type(err).__name__}: {err})") from None
        elif storage.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            self.kind, self.where = "postgresql", _redact(storage)
            self._url = _sqlalchemy_url(storage)
            self._connect_lock_session()
            self._lock_name = name
            from sqlalchemy.exc import SQLAlchemyError

            try:
                with self._advisory("create"):  # schema and study once, however many workers start at once
                    from optuna.storages import RDBStorage

                    interval = max(1, round(heartbeat))
                    self.storage = RDBStorage(self._url, heartbeat_interval=interval, grace_period=3 * interval,
                                              heartbeat_stale_trial_callback=self._retry,
                                              engine_kwargs={"pool_pre_ping": True})
                    self.study = optuna.create_study(storage=self.storage, study_name=name, direction=direction,
                                                     sampler=sampler, pruner=pruner, load_if_exists=True)
            except (SQLAlchemyError, RuntimeError) as err:
                self._pg.close()
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise UserError(f"--storage {self.where}: {first}") from None
            self._thread = threading.Thread(target=self._beat, name="gankit-heartbeat", daemon=True)
            self._thread.start()
        else:
            raise UserError(f"--storage '{_redact(storage)}': expected postgresql://USER@HOST:PORT/DB or journal:PATH")
        if self.study.direction.name.lower() != direction:
            raise UserError(f"study '{name}' in {self.where} is set to {self.study.direction.name.lower()}, "
                            f"not {direction}: use another --study name or the same --direction")

    # -- the ask lock --------------------------------------------------------------------------
    @contextlib.contextmanager
    def ask_lock(self) -> Iterator[None]:
        """Hold the study's ask lock (one worker at a time counts and asks)."""
        if self.kind == "postgresql":
            with self._advisory("ask"):
                yield
            return
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _connect_lock_session(self) -> None:
        try:
            import psycopg
        except ImportError:
            raise UserError("--storage postgresql:// needs psycopg: pip install 'gankit[tune]'") from None
        try:
            self._pg = psycopg.connect(_libpq_url(self._url), autocommit=True, connect_timeout=10)
        except psycopg.Error as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"--storage {self.where}: cannot connect ({first})") from None

    @contextlib.contextmanager
    def _advisory(self, what: str) -> Iterator[None]:
        key = _lock_key("gankit", what, getattr(self, "_lock_name", ""))
        self._pg.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            self._pg.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # -- who is alive --------------------------------------------------------------------------
    def _hold_worker_file(self) -> None:
        path = self._workers / f"{self.worker}.lock"
        handle = self._keep.enter_context(open(path, "w"))
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._keep.callback(path.unlink, missing_ok=True)

    def _alive(self, worker: str | None) -> bool:
        """Whether the journal worker ``worker`` still holds its file (this one always does)."""
        if worker == self.worker:
            return True
        if not worker:
            return False
        path = self._workers / f"{worker}.lock"
        try:
            with open(path, "r+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(handle, fcntl.LOCK_UN)
        except FileNotFoundError:
            return False
        path.unlink(missing_ok=True)
        return False

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            for trial_id in list(self._running):
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # a finished trial, or the server briefly away: the next beat tries again
                    pass

    def reap(self) -> list[int]:
        """Mark the trials of dead workers failed and ask them again; call under `ask_lock`.

        Returns:
            The numbers of the trials found lost.
        """
        import optuna
        from optuna.trial import TrialState

        if self.kind == "postgresql":
            before = {t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
            optuna.storages.fail_stale_trials(self.study)  # Optuna's heartbeat; `_retry` asks each again
            after = self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            return sorted(t.number for t in after if t.number not in before and RESULT_ATTR not in t.user_attrs)
        lost = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if self._alive(trial.user_attrs.get(WORKER_ATTR)):
                continue
            try:
                self.study.tell(trial.number, state=TrialState.FAIL)
            except (RuntimeError, ValueError):  # finished meanwhile
                continue
            self._retry(self.study, trial)
            lost.append(trial.number)
        return lost

    @staticmethod
    def _retry(study, trial) -> None:
        """Ask the lost ``trial`` again: same parameters, a new number."""
        study.enqueue_trial(dict(trial.params), user_attrs={RETRY_ATTR: trial.number}, skip_if_exists=False)

    # -- counting and asking -------------------------------------------------------------------
    def counted(self) -> tuple[int, int]:
        """(trials that count towards --trials, of them still running)."""
        from optuna.trial import TrialState

        count = running = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.state == TrialState.WAITING or is_lost(t):
                continue
            count += 1
            running += t.state == TrialState.RUNNING
        return count, running

    def ask(self):
        """A new trial (a lost trial's retry first), marked as this worker's; call under `ask_lock`."""
        trial = self.study.ask()
        trial.set_user_attr(WORKER_ATTR, self.worker)
        self._running.add(trial._trial_id)
        if self.kind == "postgresql":
            self.storage.record_heartbeat(trial._trial_id)
        return trial

    def tell(self, trial, state, value: float | None = None, result: str | None = None,
             attrs: dict[str, Any] | None = None) -> bool:
        """Finish ``trial``, recording ``{"result": result, **attrs}`` as its `RESULT_ATTR` first.

        Returns:
            False when another worker had already given it up as lost (its retry counts instead).
        """
        import optuna

        self._running.discard(trial._trial_id)
        try:
            trial.set_user_attr(RESULT_ATTR, {"result": result or state.name.lower(), **(attrs or {})})
            self.study.tell(trial, value, state=state)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            return False
        return True

    def abandon(self) -> list[int]:
        """This worker stops with trials unfinished (an error, Ctrl-C): mark them lost and ask them again.

        Returns:
            Their numbers (a storage that cannot be reached any more leaves them to `reap`).
        """
        from optuna.trial import TrialState

        numbers = []
        try:
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except Exception:  # the storage itself is what failed
            running = []
        for t in running:
            if t._trial_id in self._running:
                try:
                    self.study.tell(t.number, state=TrialState.FAIL)
                    self._retry(self.study, t)
                    numbers.append(t.number)
                except Exception:
                    pass
        self._running.clear()
        return numbers

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pg is not None:
            self._pg.close()
        self._keep.close()


def is_lost(trial) -> bool:
    """A trial that failed because its worker died (a retry of it was asked), not for its own reasons."""
    from optuna.trial import TrialState

    return trial.state == TrialState.FAIL and RESULT_ATTR not in trial.user_attrs


def _redact(url: str) -> str:
    """A storage URL without its password, for messages and files."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}" if ":" in credentials else url


__all__ = ["JOURNAL", "RESULT_ATTR", "RETRY_ATTR", "StudyStore", "WORKER_ATTR", "is_lost"]
