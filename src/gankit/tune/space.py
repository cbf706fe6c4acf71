"""A search space over config keys: what ``gankit tune --space`` parses and Optuna samples.

Each dimension is one config key (bare or dotted, as ``--set`` takes it) and either

- a range ``LOW:HIGH`` (uniform) or ``LOW:HIGH:log`` (log-uniform), of the key's own
  type: integers for integer keys (``batch_size=8:64:log``), floats otherwise; or
- a list of choices ``V1,V2,...`` (``loss=nonsaturating,hinge``, ``ema=0,0.99,0.999``).

A space file (``--space-file``) holds the same as a JSON object, key -> the same text,
a JSON list of choices (which may hold lists: ``{"d_hidden": [[32], [32, 32]]}``), or
``{"low": L, "high": H, "log": true}``.

Every bound and choice is set on a copy of the fixed config and validated there, so a
value the config refuses is one line before any trial starts.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gankit.config import Config, resolve_key
from gankit.errors import UserError


@dataclass(frozen=True)
class Dimension:
    """One searched config key.

    Attributes:
        key: dotted config key (``"train.lr_g"``).
        low, high: a range's bounds (None for choices).
        log: sample the range on a log scale.
        integer: the key takes integers (the range is sampled as integers).
        choices: the values of a list (None for a range).
    """

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple | None = None

    @property
    def name(self) -> str:
        """The parameter's name in the study: the dotted key."""
        return self.key

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.key} in {{{', '.join(json.dumps(c) for c in self.choices)}}}"
        return f"{self.key} in [{self.low:g}, {self.high:g}]{' (log)' if self.log else ''}"


def parse_space(items: Sequence[str], base: Config, file: str | Path | None = None) -> list[Dimension]:
    """``--space`` items and a space file's entries -> the checked `Dimension` list.

    Raises:
        UserError: not KEY=LOW:HIGH[:log] or KEY=V1,V2,...; an unknown or repeated key;
            ``seed`` (use --seeds); an empty range (low >= high); a log range that is not
            positive; a value of the wrong type, or one the config refuses.
    """
    entries: list[tuple[str, Any, str]] = []  # (key as given, spec, where)
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--space '{item}' must look like KEY=LOW:HIGH[:log] or KEY=V1,V2,...")
        entries.append((key.strip(), text.strip(), f"--space {key.strip()}"))
    if file is not None:
        entries += _read_space_file(Path(file))
    if not entries:
        raise UserError("nothing to search: give at least one --space KEY=LOW:HIGH[:log] or KEY=V1,V2,... "
                        "(or --space-file FILE)")
    space: list[Dimension] = []
    for key, spec, where in entries:
        section, name = resolve_key(key, where=where)
        dotted = f"{section}.{name}"
        if dotted == "train.seed":
            raise UserError(f"{where}: the seed is not a hyperparameter; use --seeds N to average each trial over N seeds")
        if any(d.key == dotted for d in space):
            raise UserError(f"{where}: key given twice")
        kind = type(getattr(getattr(base, section), name))
        space.append(_dimension(dotted, spec, kind, base, where))
    return space


def _read_space_file(path: Path) -> list[tuple[str, Any, str]]:
    from gankit.config import read_config_file

    raw = read_config_file(path)
    return [(key, spec, f"{path}: {key}") for key, spec in raw.items()]


def _dimension(key: str, spec: Any, kind: type, base: Config, where: str) -> Dimension:
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"low", "high", "log"})
        if unknown or "low" not in spec or "high" not in spec:
            raise UserError(f"{where}: a range is {{\"low\": L, \"high\": H, \"log\": false}}"
                            + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        return _range(key, spec["low"], spec["high"], spec.get("log", False), kind, base, where)
    if isinstance(spec, list):
        return _choices(key, spec, base, where)
    if not isinstance(spec, str):
        raise UserError(f"{where}: expected LOW:HIGH[:log], V1,V2,..., a list or a range object, got {json.dumps(spec)}")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip() != "log"):
            raise UserError(f"{where}: a range is LOW:HIGH or LOW:HIGH:log, got '{spec}'")
        low, high = (_number(p.strip(), where) for p in parts[:2])
        return _range(key, low, high, len(parts) == 3, kind, base, where)
    cells = [c.strip() for c in spec.split(",")]
    if not all(cells):
        raise UserError(f"{where}: empty value in '{spec}'")
    return _choices(key, [_cell(c, kind, where) for c in cells], base, where)


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{where}: '{text}' is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: '{text}' is not a finite number")
    return value


def _cell(text: str, kind: type, where: str):
    """A choice typed as its key, as ``--grid`` types it; a list key's choice as JSON."""
    from gankit.engines.sweep import typed_cell

    if kind in (list, tuple):
        try:
            return json.loads(text)
        except ValueError:
            raise UserError(f"{where}: '{text}' is not a JSON list (use --space-file for lists)") from None
    return typed_cell(where, text, kind)


def _range(key: str, low, high, log, kind: type, base: Config, where: str) -> Dimension:
    if kind not in (int, float) or isinstance(low, bool) or isinstance(high, bool):
        raise UserError(f"{where}: {key} takes {kind.__name__} values: list them (V1,V2,...) instead of a range")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or not isinstance(log, bool):
        raise UserError(f"{where}: a range's bounds are numbers and 'log' is true or false")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UserError(f"{where}: the bounds must be finite numbers")
    if not low < high:
        raise UserError(f"{where}: the range {low:g}:{high:g} is empty (LOW must be below HIGH)")
    if log and low <= 0:
        raise UserError(f"{where}: a log range must be positive, got {low:g}:{high:g}")
    integer = kind is int
    if integer:
        if not (float(low).is_integer() and float(high).is_integer()):
            raise UserError(f"{where}: {key} takes integers, got {low:g}:{high:g}")
        low, high = int(low), int(high)
    for value in (low, high):  # both ends must be values the config takes
        _check(key, value, base, where)
    return Dimension(key, low=low, high=high, log=log, integer=integer)


def _choices(key: str, values: list, base: Config, where: str) -> Dimension:
    if not values:
        raise UserError(f"{where}: an empty list of values")
    checked = []
    for value in values:
        checked.append(_check(key, value, base, where))
    if len({json.dumps(v) for v in checked}) != len(checked):
        raise UserError(f"{where}: a value is listed twice")
    return Dimension(key, choices=tuple(tuple(v) if isinstance(v, list) else v for v in checked))


def _check(key: str, value: Any, base: Config, where: str) -> Any:
    """``value`` set on a copy of ``base`` and validated: the value as the config holds it."""
    trial = copy.deepcopy(base)
    trial.set(key, value, where=where)
    try:
        trial.validate()
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    section, name = key.split(".")
    return getattr(getattr(trial, section), name)


def suggest(trial, space: Sequence[Dimension]) -> dict[str, Any]:
    """One point of ``space`` from an Optuna trial: dotted key -> value."""
    point = {}
    for d in space:
        if d.choices is not None:
            # Optuna keeps choices of None, bool, int, float and str; lists go in as their JSON text.
            options = [json.dumps(c) if isinstance(c, tuple) else c for c in d.choices]
            value = trial.suggest_categorical(d.name, options)
            point[d.key] = json.loads(value) if isinstance(value, str) and isinstance(
                d.choices[options.index(value)], tuple) else value
        elif d.integer:
            point[d.key] = trial.suggest_int(d.name, d.low, d.high, log=d.log)
        else:
            point[d.key] = trial.suggest_float(d.name, d.low, d.high, log=d.log)
    return point


def trial_config(base: Config, point: dict[str, Any], seed: int) -> Config:
    """The fixed config with ``point`` set and ``seed``, validated."""
    config = copy.deepcopy(base)
    for key, value in point.items():
        config.set(key, list(value) if isinstance(value, tuple) else value, where="trial")
    config.train.seed = seed
    return config.validate()


__all__ = ["Dimension", "parse_space", "suggest", "trial_config"]
