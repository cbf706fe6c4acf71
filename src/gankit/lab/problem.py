"""The lab's problem: what the page asks for, checked and turned into a `Config`.

A problem is a flat JSON object (the page's form, or its query string):
``target`` (a named target, or ``"file"`` for points drawn on the page or a
dropped file), the networks, the objective, both learning rates, the batch
size and the seed. `to_config` checks every value through `Config` itself,
so the lab accepts exactly what ``gankit train`` accepts, within what the lab
can draw: 2-D points and the objectives whose equilibrium is a loss value.

Drawn points and dropped files go through `DataFiles`: each is written to a
private temporary folder and read back with `gankit.data.points.load_points`,
the very check ``--data FILE`` gets, so a bad file is one clear `UserError`.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gankit.config import Config
from gankit.data.points import load_points
from gankit.errors import UserError

# Targets offered by name (each with its truth known), besides "file".
TARGET_NAMES = ("gaussian", "ring8", "grid25", "moons", "swissroll")
# Objectives the lab offers: each has an equilibrium value (its losses when D outputs 1/2).
LAB_OBJECTIVES = ("nonsaturating", "minimax", "least_squares", "hinge")
# Problem key -> dotted config key, for every key taken as it is.
CONFIG_KEYS = {
    "n": "data.n", "generator": "model.generator", "discriminator": "model.discriminator",
    "g_hidden": "model.g_hidden", "d_hidden": "model.d_hidden", "activation": "model.activation",
    "latent_dim": "model.latent_dim", "loss": "train.loss", "lr_d": "train.lr_d", "lr_g": "train.lr_g",
    "batch_size": "train.batch_size", "seed": "train.seed",
}
PROBLEM_KEYS = ("target", "data", *CONFIG_KEYS)
FILE_HOLDOUT = 0.2  # of a drawn or dropped file, kept out of training for the p-value and `gankit eval`
MAX_POINTS = 20_000  # the most training points a live page stays fluid with
MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # a dropped file larger than this is refused before it is read
SUFFIXES = (".csv", ".npy", ".txt")
MAX_NAME = 60  # characters of a dropped file's name the lab shows and keeps


def display_name(name: str) -> str:
    """A dropped file's name as the lab shows it: its last path part, without control characters
    (a NUL, a newline, an escape), at most `MAX_NAME` characters with its suffix kept."""
    shown = "".join(c for c in Path(str(name)).name if not unicodedata.category(c).startswith("C")).strip()
    if len(shown) > MAX_NAME:
        suffix = Path(shown).suffix if len(Path(shown).suffix) <= 8 else ""
        shown = shown[:MAX_NAME - len(suffix) - 1] + "\u2026" + suffix
    return shown or "file"


def base_config(target: str) -> Config:
    """Where a problem on ``target`` starts: a toy target's preset (networks, rates, batch size,
    ``data_scale``, found by sweeps to converge), else the chapter's defaults, as ``gankit train``."""
    from gankit.presets import DATA_PRESETS, preset_config

    return preset_config(DATA_PRESETS[target]) if target in DATA_PRESETS else Config()


def recipes() -> dict[str, dict[str, Any]]:
    """Each named target's starting problem (`base_config`'s form values), for the page's Data menu."""
    return {target: {**problem_of(base_config(target)), "target": target} for target in TARGET_NAMES}


@dataclass
class DataFile:
    """A checked point file held by the lab: its path, the name the user gave it, its point count."""

    path: Path
    name: str
    n: int


class DataFiles:
    """Drawn and dropped point files, kept in a private temporary folder until `close`."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="gankit-lab-"))
        self.files: dict[str, DataFile] = {}

    def add_points(self, points: Any) -> str:
        """Store points drawn on the page, a list of [x, y] pairs; returns the file's id."""
        if not isinstance(points, list) or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_number(v) for v in p) for p in points):
            raise UserError("drawn points must be a list of [x, y] number pairs")
        if len(points) > MAX_POINTS:
            raise UserError(f"{len(points)} drawn points; the lab takes at most {MAX_POINTS}")
        text = "x1,x2\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in points)
        return self.add_bytes(text.encode(), "drawn.csv")

    def add_bytes(self, data: bytes, name: str) -> str:
        """Store a dropped file's bytes and check them as ``--data`` would; returns the file's id.

        Raises:
            UserError: too large, an unknown suffix, or anything `load_points` refuses,
                fewer than 2 or more than `MAX_POINTS` points, or points that are not 2-D.
        """
        shown = display_name(name)
        if len(data) > MAX_UPLOAD_BYTES:
            raise UserError(f"{shown}: file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
        suffix = Path(shown).suffix.lower()
        if suffix not in SUFFIXES:
            raise UserError(f"{shown}: the lab reads .csv, .txt or .npy point files")
        key = secrets.token_hex(8)
        path = self.folder / f"{key}{suffix}"
        path.write_bytes(data)
        try:
            points = load_points(path)
        except UserError as err:  # name the file as the user knows it, not our temporary name
            path.unlink(missing_ok=True)
            raise UserError(str(err).replace(str(path), shown)) from None
        try:
            check_points(points.shape, shown)
        except UserError:
            path.unlink(missing_ok=True)
            raise
        self.files[key] = DataFile(path, shown, int(points.shape[0]))
        return key

    def get(self, key: str) -> DataFile:
        if key not in self.files:
            raise UserError("that data file is gone (reload the page and drop it again)")
        return self.files[key]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def check_points(shape: tuple[int, ...], name: str) -> None:
    """What the lab can show: 2-D points, at most `MAX_POINTS` of them."""
    n, d = shape
    if d != 2:
        raise UserError(f"{name}: the lab shows 2-D points, and this file has {d} columns "
                        f"(train it with gankit train --data)")
    if n > MAX_POINTS:
        raise UserError(f"{name}: {n} points; the lab takes at most {MAX_POINTS}")


def to_config(problem: dict[str, Any], files: DataFiles | None = None) -> Config:
    """A validated `Config` for a problem (see the module docstring); unknown keys are refused.

    Args:
        problem: the page's settings; absent keys keep the target's starting recipe
            (`base_config`: a toy target's preset, else the chapter's defaults).
        files: where ``target = "file"`` finds its ``data`` id.

    Raises:
        UserError: an unknown key or target, a bad value (named as the config names it),
            an objective the lab does not offer, or more training points than it takes.
    """
    if not isinstance(problem, dict):
        raise UserError("a problem is a JSON object of settings")
    unknown = sorted(set(problem) - set(PROBLEM_KEYS))
    if unknown:
        raise UserError(f"unknown setting {unknown[0]!r} (known: {', '.join(PROBLEM_KEYS)})")
    target = problem.get("target", "gaussian")
    config = base_config(target if isinstance(target, str) else "")
    if target == "file":
        if files is None or "data" not in problem:
            raise UserError("target 'file' needs the id of drawn or dropped points ('data')")
        config.data.source = str(files.get(str(problem["data"])).path)
        config.data.holdout = FILE_HOLDOUT
    elif target in TARGET_NAMES:
        config.data.source = target
    else:
        raise UserError(f"unknown target {target!r} (known: {', '.join(TARGET_NAMES)}, file)")
    for key, dotted in CONFIG_KEYS.items():
        if key in problem:
            config.set(dotted, problem[key], where="lab")
    config.validate()
    if config.train.loss not in LAB_OBJECTIVES:
        raise UserError(f"the lab offers the objectives {', '.join(LAB_OBJECTIVES)}, not {config.train.loss!r}")
    if target != "file" and config.data.n > MAX_POINTS:
        raise UserError(f"lab: data.n is {config.data.n}; the lab takes at most {MAX_POINTS} points")
    return config


def problem_of(config: Config, files: DataFiles | None = None) -> dict[str, Any]:
    """The problem a config came from (what the page's form shows); the inverse of `to_config`."""
    problem: dict[str, Any] = {"target": config.data.source}
    if config.data.source not in TARGET_NAMES:
        problem["target"] = "file"
        key = next((k for k, f in (files.files.items() if files else ()) if str(f.path) == config.data.source), None)
        problem["data"] = key
    for key, dotted in CONFIG_KEYS.items():
        section, name = dotted.split(".")
        problem[key] = getattr(getattr(config, section), name)
    if problem["target"] == "file":  # data.n draws a target's points; a file has its own count
        problem["n"] = files.files[problem["data"]].n if problem.get("data") else None
    return problem


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


__all__ = ["CONFIG_KEYS", "DataFile", "DataFiles", "FILE_HOLDOUT", "LAB_OBJECTIVES", "MAX_NAME", "MAX_POINTS",
           "MAX_UPLOAD_BYTES", "PROBLEM_KEYS", "TARGET_NAMES", "base_config", "check_points", "display_name",
           "problem_of", "recipes", "to_config"]
