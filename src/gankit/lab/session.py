"""The lab's training session: one problem, trained by gankit's engines in a thread of its own.

The server never touches the networks. It sends commands (`LabSession.command`),
each answered through a ``concurrent.futures.Future`` once the training
thread has applied it, and reads what the thread publishes: a *problem*
message when a problem is set up (the data, the view's geometry, the
objective's equilibrium) and a *frame* after every unit of training (D's
surface, G's points and their pull, the manifold, the live figures), both
already encoded as JSON, plus the per-epoch loss rows.

Training is gankit's own, never a copy of its math (`gankit.lab.stepping`):
whole epochs on the fast path where it applies, several per frame when they
are quick; single steps, slow speeds and what the fast path does not
implement on the general loop.

A learning rate set while training is written into the optimiser between two
units, so the next step the thread takes uses it (a unit is at most one frame,
1/20 s, of training); the page shows the step from which it applies.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import math
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from gankit.config import Config
from gankit.engines.guard import Diverged
from gankit.engines.state import TrainState
from gankit.engines.training import build_state, choose_engine
from gankit.errors import UserError
from gankit.lab import views
from gankit.lab.livetest import LiveTest
from gankit.lab.problem import DataFiles, problem_of, recipes, to_config
from gankit.lab.record import Recorder, save_run
from gankit.lab.stepping import train_unit
from gankit.engines.objectives import equilibrium

log = logging.getLogger("gankit.lab")

SPEEDS = (1, 4, 16, 0)  # steps per frame; 0: as fast as it goes (whole epochs on the fast path)
MAX_FPS = 20.0  # frames published per second while playing, at most
RATE_WINDOW = 2.0  # seconds over which the examples/sec figure is measured
MAX_UNIT_SECONDS = 1.0  # a fast epoch longer than this gives way to the general loop against the clock
MAX_FAST_STEPS = 2500  # ... and so does a first epoch of more steps than this (20,000 points, batch 8)


@dataclass
class Seen:
    """How far one client has got: the problem and frame versions and the loss rows it holds."""

    problem: int = 0
    frame: int = 0
    rows: int = 0


@dataclass
class Command:
    action: str
    args: dict[str, Any]
    future: Future = field(default_factory=Future)


class LabSession:
    """A problem and its training, driven by commands; see the module docstring.

    Args:
        runs: where "save as run" makes run directories.
        files: drawn and dropped point files (shared with the server, which stores uploads).
        problem: the first problem (default: the chapter's).
        max_fps: frames per second while playing, at most.
    """

    def __init__(self, runs: str | Path = "runs", files: DataFiles | None = None,
                 problem: dict[str, Any] | None = None, max_fps: float = MAX_FPS):
        self.runs, self.files, self.frame_seconds = Path(runs), files or DataFiles(), 1.0 / max_fps
        self._queue: queue.Queue[Command] = queue.Queue()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # guards what is published below
        self._problem: tuple[int, str] = (0, "null")
        self._frame: tuple[int, str] = (0, "null")
        self._rows: list[list[float | None]] = []
        self.state: TrainState | None = None
        self.playing, self.speed, self.closed = False, SPEEDS.index(0), False
        self._thread = threading.Thread(target=self._loop, name="gankit-lab-trainer", daemon=True)
        self._thread.start()
        self.command("reset", problem=problem or {}).result()

    # ---- any thread --------------------------------------------------------------------------------

    def command(self, action: str, **args: Any) -> Future:
        """Queue ``action`` (see `HANDLERS`) for the training thread; the future holds its answer.

        The future's exception is a `UserError` for a bad request (shown on the page as it is).
        """
        cmd = Command(action, args)
        if action not in HANDLERS:
            cmd.future.set_exception(UserError(f"unknown action {action!r} (known: {', '.join(HANDLERS)})"))
            return cmd.future
        if self.closed:
            cmd.future.set_exception(UserError("the lab is shutting down"))
            return cmd.future
        self._queue.put(cmd)
        self._wake.set()
        return cmd.future

    def updates(self, seen: Seen) -> list[str]:
        """The messages a client that has ``seen`` so much is missing (and ``seen`` moved on past them).

        A new problem comes first (its version grows with every reset); then the
        latest frame, if newer, with the per-epoch ``rows`` [epoch, loss_d, loss_g]
        the client lacks. A frame names its problem: a client drops one of a problem it has left.
        """
        out = []
        with self._lock:
            if seen.problem != self._problem[0]:
                out.append(self._problem[1])
                seen.problem, seen.frame, seen.rows = self._problem[0], -1, 0
            if seen.frame != self._frame[0]:
                rows = json.dumps(self._rows[seen.rows:], allow_nan=False)
                out.append(f'{{"rows": {rows}, {self._frame[1][1:]}')
                seen.frame, seen.rows = self._frame[0], len(self._rows)
        return out

    def latest(self) -> dict[str, Any]:
        """The latest frame, decoded (for tests and scripts)."""
        with self._lock:
            return json.loads(self._frame[1])

    def close(self, timeout: float = 10.0) -> None:
        """Stop the training thread (after the unit in progress) and remove the lab's temporary files."""
        if not self.closed:
            self.command("close")
            self.closed = True
        self._thread.join(timeout)
        self.files.close()

    # ---- the training thread -----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            wait = not (self.playing and self.state is not None)
            try:
                cmd = self._queue.get(block=wait)
            except queue.Empty:
                cmd = None
            while cmd is not None:
                if cmd.action == "close":
                    self._shut()
                    cmd.future.set_result({})
                    return
                self._apply(cmd)
                try:
                    cmd = self._queue.get_nowait()
                except queue.Empty:
                    cmd = None
            if self.playing and self.state is not None:
                started = time.perf_counter()
                steps = SPEEDS[self.speed]
                if steps:
                    self._advance(steps=steps)
                else:
                    self._advance(deadline=started + 0.8 * self.frame_seconds)
                self._publish_frame()
                self._wake.clear()
                self._wake.wait(max(0.0, started + self.frame_seconds - time.perf_counter()))

    def _apply(self, cmd: Command) -> None:
        """Run a command, publish the frame it leads to, then answer (so an answer means "on the page")."""
        try:
            result = HANDLERS[cmd.action](self, **cmd.args)
        except UserError as err:
            result = err
        except Exception as err:  # a bug must not stop the thread: report it on the page and in the log
            log.exception("lab: %s failed", cmd.action)
            result = UserError(f"{cmd.action} failed: {type(err).__name__}: {err}")
        try:
            self._publish_frame()
        except Exception:
            log.exception("lab: drawing a frame failed")
        if isinstance(result, Exception):
            cmd.future.set_exception(result)
        else:
            cmd.future.set_result(result)

    def _shut(self) -> None:
        self.playing = False
        if getattr(self, "test", None) is not None:
            self.test.close()

    # ---- commands (run on the training thread) -----------------------------------------------------

    def _reset(self, problem: dict[str, Any]) -> dict[str, Any]:
        config = to_config(problem, self.files)
        state = build_state(config)  # data and networks from the seed, as gankit train draws them
        if getattr(self, "test", None) is not None:
            self.test.close()
        self.state, self.config0 = state, Config.from_dict(config.to_dict())
        self.recorder = Recorder()
        self.recorder.on_train_start(state)
        self.engine = choose_engine(config, state, [self.recorder])
        self.engines_used: list[str] = []
        self.geometry = views.geometry(state.dataset.train)
        self.gap = views.GaussianGap(state.dataset.target, state.dataset.train, config.train.seed,
                                     config.model.latent_dim)
        self.z, self.z_grid = views.fixed_noise(config.train.seed, config.model.latent_dim), \
            views.latent_grid(config.model.latent_dim)
        self.test = LiveTest(state.dataset, config.train.seed, config.model.latent_dim)
        self.lr_changes: list[dict[str, float]] = []
        self.train_seconds, self.epoch_seconds = 0.0, None
        self.rate: collections.deque[tuple[float, int]] = collections.deque()
        self.status, self.diverged = None, False
        self.playing = False
        eq_d, eq_g = equilibrium(config.train.loss)
        ds, geo = state.dataset, self.geometry
        problem = problem_of(config, self.files)
        self.data_name = self.files.get(problem["data"]).name if problem["target"] == "file" else problem["target"]
        message = {
            "type": "problem", "problem": problem, "extent": list(geo.extent), "grid": views.GRID,
            "real": views.rounded(ds.train[:views.N_REAL]), "n_train": int(ds.train.shape[0]),
            "n_heldout": 0 if ds.heldout is None else int(ds.heldout.shape[0]),
            "data_name": self.data_name,
            "pull_unit": geo.pull_unit, "arrow": geo.arrow, "manifold": views.MANIFOLD,
            "equilibrium": {"loss_d": eq_d, "loss_g": eq_g}, "truth_known": self.gap.known,
            "engine": self.engine, "pvalue_note": self.test.reason, "recipes": recipes(),
        }
        with self._lock:
            version = self._problem[0] + 1
            self._problem = (version, json.dumps({**message, "version": version}))
            self._rows = []
        return {"problem": problem}

    def _play(self) -> dict:
        self._need_state()
        self.playing = True
        return {}

    def _pause(self) -> dict:
        self.playing = False
        return {}

    def _step(self) -> dict:
        self._need_state()
        self.playing = False
        before = self.state.step
        self._advance(steps=1)
        if self.state.step == before and not self.diverged:  # that call only closed a finished epoch
            self._advance(steps=1)
        return {"step": self.state.step}

    def _epoch(self) -> dict:
        self._need_state()
        self.playing = False
        self._advance()
        return {"epoch": self.state.epoch}

    def _set_speed(self, speed: Any) -> dict:
        if speed not in SPEEDS:
            raise UserError(f"speed must be one of {SPEEDS} (steps per frame; 0 = as fast as it goes)")
        self.speed = SPEEDS.index(speed)
        return {"speed": speed}

    def _set_lr(self, lr_d: Any = None, lr_g: Any = None) -> dict:
        self._need_state()
        check = Config.from_dict(self.state.config.to_dict())  # the same rules as train.lr_d / train.lr_g
        for key, value in (("lr_d", lr_d), ("lr_g", lr_g)):
            if value is not None:
                check.set(f"train.{key}", value, where="lab")
        check.validate()
        for opt, value in ((self.state.opt_D, check.train.lr_d), (self.state.opt_G, check.train.lr_g)):
            for group in opt.param_groups:
                group["lr"] = value
        change = {"step": self.state.step, "lr_d": check.train.lr_d, "lr_g": check.train.lr_g}
        self.lr_changes.append(change)
        return change

    def _save(self, plots: bool = True) -> dict:
        """Save as a run; the answer names it (frames do not: a page loaded later saved nothing)."""
        if not isinstance(plots, bool):
            raise UserError(f"plots must be true or false, got {json.dumps(plots)[:40]}")
        self._need_state()
        if self.state.step == 0:
            raise UserError("nothing trained yet: press play or step first")
        was_playing, self.playing = self.playing, False
        data_file = self.state.config.data.source if self.state.dataset.target is None else None
        try:
            path = save_run(self.state, self.config0, self.recorder, self.runs, self.examples_per_sec(),
                            engine=" and ".join(self.engines_used) or self.engine, lr_changes=self.lr_changes,
                            data_file=data_file, data_name=self.data_name, plots=plots)
        finally:  # a failed save (a full disk, a read-only --runs) leaves the session as it was
            self.playing = was_playing
        return {"run": str(path)}

    def _need_state(self) -> None:
        if self.state is None:
            raise UserError("no problem is set up")
        if self.diverged:
            raise UserError("training diverged: lower the learning rates and reset")

    # ---- training ----------------------------------------------------------------------------------

    def _advance(self, steps: int | None = None, deadline: float | None = None) -> None:
        """Train ``steps`` steps, or until ``deadline``, or (neither) to the end of the epoch.

        At full speed on the fast path the deadline becomes whole epochs: as many as
        the last epochs' pace says fit before it.
        """
        state, started = self.state, time.perf_counter()
        epochs = 1
        if steps is None and self._fast_epochs_fit() and state.batch == 0:
            if deadline is not None and self.epoch_seconds:
                epochs = max(1, min(1000, int((deadline - started) / self.epoch_seconds)))
            deadline = None
        try:
            used = train_unit(state, [self.recorder], self.engine, steps, deadline, epochs)
            for engine in used:
                if engine not in self.engines_used:
                    self.engines_used.append(engine)
            if used == ["fast"]:
                per_epoch = (time.perf_counter() - started) / epochs
                self.epoch_seconds = per_epoch if self.epoch_seconds is None else \
                    0.7 * self.epoch_seconds + 0.3 * per_epoch
        except Diverged as err:
            self.playing, self.diverged = False, True
            self.status = {"level": "error", "text": f"{err}. Reset to start again."}
        finally:
            self.train_seconds += time.perf_counter() - started
            self._note_rate()

    def _fast_epochs_fit(self) -> bool:
        """Whether whole fast epochs are short enough (under `MAX_UNIT_SECONDS`) to keep frames and
        commands flowing; else the general loop trains against the clock (a huge epoch of tiny batches)."""
        if self.engine != "fast":
            return False
        if self.epoch_seconds is not None:
            return self.epoch_seconds <= MAX_UNIT_SECONDS
        steps = math.ceil(self.state.dataset.train.shape[0] / self.state.config.train.batch_size)
        return steps <= MAX_FAST_STEPS

    def seen(self) -> int:
        """Examples trained on so far (whole epochs, plus the batches of the epoch in progress)."""
        n, b = self.state.dataset.train.shape[0], self.state.config.train.batch_size
        return self.state.epoch * n + min(self.state.batch * b, n)

    def examples_per_sec(self) -> float:
        """Over the whole session: examples trained on per second spent training."""
        return self.seen() / self.train_seconds if self.train_seconds > 0 else 0.0

    def _note_rate(self) -> None:
        now = time.monotonic()
        self.rate.append((now, self.seen()))
        while len(self.rate) > 2 and self.rate[1][0] < now - RATE_WINDOW:
            self.rate.popleft()

    def _live_rate(self) -> float | None:
        """Examples per second of wall-clock time over the last seconds of play (frames included)."""
        if not self.playing or len(self.rate) < 2:
            return None
        (t0, s0), (t1, s1) = self.rate[0], self.rate[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    # ---- publishing --------------------------------------------------------------------------------

    def _status(self, fake: Tensor) -> dict[str, str] | None:
        """What the page should say: an error (divergence) stays; else, while most generated points
        are outside the view, why the run is failing and what to try."""
        if self.diverged or (self.status and self.status["level"] == "error"):
            return self.status
        x0, x1, y0, y1 = self.geometry.extent
        inside = ((fake[:, 0] >= x0) & (fake[:, 0] <= x1) & (fake[:, 1] >= y0) & (fake[:, 1] <= y1)).sum()
        if int(inside) * 2 >= fake.shape[0]:
            return None
        return {"level": "warning", "text": (
            "Most generated points are outside the view (the rings at its edge): G overshoots the data. "
            "Try lower learning rates, or choose the target again in the Data menu for its starting recipe.")}

    def _publish_frame(self) -> None:
        if self.state is None:
            return
        state = self.state
        G, D = state.G, state.D
        with torch.no_grad():
            fake = G(self.z)  # (N_FAKE, 2)
            manifold = G(self.z_grid)  # (MANIFOLD^2, 2)
        pull = views.pull(D, fake, state.config.train.loss)  # (N_FAKE, 2)
        if self.test.due(state.epoch) and torch.isfinite(fake).all():
            self.test.start(G, state.epoch)
        pv = self.test.latest
        last = state.history[-1] if state.history else {}
        frame = {
            "type": "frame", "problem": self._problem[0], "epoch": state.epoch, "step": state.step,
            "batch": state.batch, "playing": self.playing, "speed": SPEEDS[self.speed],
            "fake": views.rounded(fake), "pull": views.rounded(pull, 5), "manifold": views.rounded(manifold),
            "surface": base64.b64encode(views.surface(D, self.geometry)).decode(),
            "loss_d": _num(last.get("loss_d")), "loss_g": _num(last.get("loss_g")),
            **self.gap(G),
            "pvalue": None if pv is None else pv.p_value, "pvalue_epoch": None if pv is None else pv.epoch,
            "mmd2": None if pv is None else _num(pv.statistic),
            "examples_per_sec": _num(self._live_rate()),
            "lr_d": state.opt_D.param_groups[0]["lr"], "lr_g": state.opt_G.param_groups[0]["lr"],
            "lr_from_step": self.lr_changes[-1]["step"] if self.lr_changes else 0,
            "engine": self.engines_used[-1] if self.engines_used else self.engine,
            "status": self._status(fake), "diverged": self.diverged,
        }
        text = json.dumps(frame, allow_nan=False)
        rows = [[r["epoch"], _num(r["loss_d"]), _num(r["loss_g"])] for r in state.history[len(self._rows):]]
        with self._lock:
            self._rows.extend(rows)
            self._frame = (self._frame[0] + 1, text)


def _num(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


HANDLERS: dict[str, Callable[..., dict]] = {
    "reset": LabSession._reset, "play": LabSession._play, "pause": LabSession._pause,
    "step": LabSession._step, "epoch": LabSession._epoch, "speed": LabSession._set_speed,
    "lr": LabSession._set_lr, "save": LabSession._save, "close": lambda self: {},
}

__all__ = ["HANDLERS", "LabSession", "MAX_FPS", "SPEEDS", "Seen"]
