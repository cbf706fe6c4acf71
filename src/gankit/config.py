"""Typed, validated configuration: one dataclass per component.

A `Config` is built from defaults, a JSON file and ``key=value`` overrides,
validated before any work starts, and saved with every run as ``config.json``.
Keys are dotted (``train.lr_d``); a bare key (``lr_d``) is accepted when only
one section has it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.errors import UserError

# The chapter's data: X ~ N(0, I_2), data = X A + b, so data ~ N(b, A^T A).
CHAPTER_A = [[1.0, 2.0], [-0.1, 0.5]]
CHAPTER_B = [1.0, 2.0]
# Training engines (see gankit.training.train and gankit.fast).
ENGINES = ("auto", "general", "fast")


@dataclass
class DataConfig:
    """What to learn.

    Attributes:
        source: ``"gaussian"`` (the chapter's target, the default), another
            named target, or a path to a ``.csv`` / ``.npy`` point file.
        n: number of training points drawn from a named target.
        mean: b, the Gaussian target's mean (its length is the dimension).
        transform: A, so that data = X A + b with X ~ N(0, I); the target's
            covariance is A^T A.
        holdout: fraction of a data file kept out of training for evaluation.
    """

    source: str = "gaussian"
    n: int = 1000
    mean: list[float] = field(default_factory=lambda: list(CHAPTER_B))
    transform: list[list[float]] = field(default_factory=lambda: [list(r) for r in CHAPTER_A])
    holdout: float = 0.0

    def validate(self) -> None:
        _check(self.n >= 2, "data.n must be at least 2, got {}", self.n)
        _check(0.0 <= self.holdout < 1.0, "data.holdout must be in [0, 1), got {}", self.holdout)
        if self.source == "gaussian":
            d = len(self.mean)
            _check(d >= 1, "data.mean must not be empty")
            _check(
                len(self.transform) == d and all(len(row) == d for row in self.transform),
                "data.transform must be a {0}x{0} matrix to match data.mean of length {0}",
                d,
            )
            values = list(self.mean) + [v for row in self.transform for v in row]
            _check(all(math.isfinite(v) for v in values), "data.mean and data.transform must be finite")


@dataclass
class ModelConfig:
    """The two networks.

    Attributes:
        generator: ``"linear"`` (the chapter's single affine layer) or ``"mlp"``.
        discriminator: ``"chapter"`` (affine 5, tanh, affine 3, tanh, affine 1)
            or ``"mlp"``.
        latent_dim: dimension of the noise z ~ N(0, I) fed to the generator.
        g_hidden: hidden widths of an ``"mlp"`` generator.
        d_hidden: hidden widths of an ``"mlp"`` discriminator.
        activation: activation between hidden layers of ``"mlp"`` networks.
        init_std: every weight and bias starts as N(0, init_std^2).
    """

    generator: str = "linear"
    discriminator: str = "chapter"
    latent_dim: int = 2
    g_hidden: list[int] = field(default_factory=lambda: [16, 16])
    d_hidden: list[int] = field(default_factory=lambda: [16, 16])
    activation: str = "tanh"
    init_std: float = 0.02

    def validate(self) -> None:
        from gankit.models import ACTIVATIONS, DISCRIMINATORS, GENERATORS

        _check(self.generator in GENERATORS, "unknown generator '{}' (choose from {})",
               self.generator, ", ".join(sorted(GENERATORS)))
        _check(self.discriminator in DISCRIMINATORS, "unknown discriminator '{}' (choose from {})",
               self.discriminator, ", ".join(sorted(DISCRIMINATORS)))
        _check(self.activation in ACTIVATIONS, "unknown activation '{}' (choose from {})",
               self.activation, ", ".join(sorted(ACTIVATIONS)))
        _check(self.latent_dim >= 1, "model.latent_dim must be at least 1, got {}", self.latent_dim)
        _check(all(w >= 1 for w in self.g_hidden + self.d_hidden), "hidden widths must be positive")
        _check(self.init_std > 0 and math.isfinite(self.init_std),
               "model.init_std must be positive, got {}", self.init_std)


@dataclass
class TrainConfig:
    """How to train: the chapter's defaults.

    Attributes:
        epochs: passes over the training data.
        batch_size: examples per D step and per G step.
        lr_d, lr_g: Adam learning rates of the discriminator and generator.
        beta1, beta2: Adam's moment decay rates (both networks).
        loss: objective name, ``"nonsaturating"`` (the chapter's) or ``"minimax"``.
        seed: seeds data, initialisation, data order and noise.
        engine: ``"auto"`` (the fast path where it applies, else the general
            loop), ``"general"`` (always the eager autograd loop) or ``"fast"``
            (the hand-written step of gankit.fast; an error where it does not apply).
    """

    epochs: int = 20
    batch_size: int = 8
    lr_d: float = 0.05
    lr_g: float = 0.005
    beta1: float = 0.9
    beta2: float = 0.999
    loss: str = "nonsaturating"
    seed: int = 0
    engine: str = "auto"

    def validate(self) -> None:
        from gankit.objectives import OBJECTIVES

        _check(self.epochs >= 1, "train.epochs must be at least 1, got {}", self.epochs)
        _check(self.batch_size >= 1, "train.batch_size must be at least 1, got {}", self.batch_size)
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            _check(value > 0 and math.isfinite(value), "train.{} must be a positive number, got {}", name, value)
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            _check(0.0 <= value < 1.0, "train.{} must be in [0, 1), got {}", name, value)
        _check(self.loss in OBJECTIVES, "unknown loss '{}' (choose from {})",
               self.loss, ", ".join(sorted(OBJECTIVES)))
        _check(0 <= self.seed < 2**63, "train.seed must be a non-negative integer, got {}", self.seed)
        _check(self.engine in ENGINES, "unknown train.engine '{}' (choose from {})", self.engine, ", ".join(ENGINES))


@dataclass
class Config:
    """A whole experiment: data, models and training. Defaults are the chapter's."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "Config":
        """Check every value; raise `UserError` naming the first bad one."""
        self.data.validate()
        self.model.validate()
        self.train.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> "Config":
        """Build from a nested dict; unknown keys and wrong types are `UserError`s."""
        if not isinstance(raw, dict):
            raise UserError(f"{where}: expected a JSON object of sections")
        config = cls()
        for section, values in raw.items():
            if section not in _sections():
                raise UserError(f"{where}: unknown config section '{section}' (known: {', '.join(_sections())})")
            if not isinstance(values, dict):
                raise UserError(f"{where}: section '{section}' must be an object")
            for key, value in values.items():
                config.set(f"{section}.{key}", value, where=where)
        return config

    def set(self, key: str, value: Any, where: str = "override") -> None:
        """Set one dotted key (``"train.lr_d"``, or bare ``"lr_d"``), checking its type."""
        section, name = _resolve_key(key, where)
        target = getattr(self, section)
        hint = typing.get_type_hints(type(target))[name]
        setattr(target, name, _coerce(value, hint, f"{where}: {section}.{name}"))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Defaults, then a JSON file, then ``key=value`` overrides; validated."""
    config = Config()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise UserError(f"{path}: not valid JSON ({err})") from None
        config = Config.from_dict(raw, where=str(path))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"override '{item}' must look like key=value")
        config.set(key.strip(), parse_value(text.strip()), where="--set")
    return config.validate()


def parse_value(text: str) -> Any:
    """``"0.1"`` -> 0.1, ``"[5,3]"`` -> [5, 3], anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _sections() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def _resolve_key(key: str, where: str) -> tuple[str, str]:
    if "." in key:
        section, name = key.split(".", 1)
        if section in _sections() and name in _field_names(section):
            return section, name
        raise UserError(f"{where}: unknown config key '{key}'")
    owners = [s for s in _sections() if key in _field_names(s)]
    if len(owners) != 1:
        raise UserError(f"{where}: unknown config key '{key}'")
    return owners[0], key


def _field_names(section: str) -> list[str]:
    cls = typing.get_type_hints(Config)[section]
    return [f.name for f in dataclasses.fields(cls)]


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        (inner,) = typing.get_args(hint)
        if isinstance(value, (list, tuple)):
            return [_coerce(v, inner, where) for v in value]
    else:  # pragma: no cover - every field type is listed above
        return value
    name = getattr(hint, "__name__", str(hint))
    raise UserError(f"{where} must be {name}, got {value!r}")


def _check(ok: bool, message: str, *args: Any) -> None:
    if not ok:
        raise UserError(message.format(*args))
