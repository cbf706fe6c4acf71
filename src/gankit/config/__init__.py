"""Typed, validated configuration: one dataclass per component.

A `Config` is built from defaults, a JSON file and ``key=value`` overrides,
validated before any work starts, and saved with every run as ``config.json``.
Keys are dotted (``train.lr_d``); a bare key (``lr_d``) is accepted when only
one section has it.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gankit.config.constraints import Each, Interval, Kind, Matches, Options, check_fields, rule
from gankit.errors import UserError

# The chapter's data: X ~ N(0, I_2), data = X A + b, so data ~ N(b, A^T A).
CHAPTER_A = [[1.0, 2.0], [-0.1, 0.5]]
CHAPTER_B = [1.0, 2.0]
# Training engines (see gankit.engines.training.choose_engine).
ENGINES = ("auto", "general", "fast")
PRECISIONS = ("32", "bf16", "16")  # train.precision: float32, or autocast to bfloat16 / float16
# Learning-rate schedules over the whole run (see gankit.engines.state.lr_factor).
LR_SCHEDULES = ("constant", "linear", "cosine")
# A config nests 4 levels (section, key, list, list); JSON deeper than this is refused before it is walked.
MAX_JSON_DEPTH = 32
# What D's inputs go through: none, diffaug, or parts of gankit.engines.augment.PARTS joined by commas.
_AUGMENT_PART = r"(colour|color|translation|cutout)"
AUGMENT_PATTERN = rf"none|diffaug|{_AUGMENT_PART}(,{_AUGMENT_PART})*"


def _registry(module: str, table: str, *extra: str):
    """The names in a registry, read when a value is checked (models and objectives import torch)."""
    return lambda: [*extra, *sorted(getattr(importlib.import_module(module), table))]


@dataclass
class DataConfig:
    """What to learn.

    Attributes:
        source: ``"gaussian"`` (the chapter's target, the default), another
            named target, or a path to a ``.csv`` / ``.npy`` point file; images:
            ``"digits"``, ``"idx:DIR"``, ``"folder:DIR"``, an ``.npz`` file, or a
            set downloaded by name: ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, ``"pokemon"``.
        n: number of training points drawn from a named target.
        mean: b, the Gaussian target's mean (its length is the dimension).
        transform: A, so that data = X A + b with X ~ N(0, I); the target's
            covariance is A^T A.
        holdout: fraction of a data file kept out of training for evaluation.
        resolution: image side to resize and centre-crop to (0: keep the images' own).
        skip_corrupt: skip unreadable image files (counted) instead of stopping.
        url: base URL of a mirror of the named sets (files at ``<url>/<set>/<file>``;
            "" : $GANKIT_DATA_URL, else each publisher's).
    """

    source: str = rule(Kind(str), "gaussian")
    n: int = rule(Interval(int, 2), 1000)
    mean: list[float] = rule(Each(Interval(float), min_len=1), factory=lambda: list(CHAPTER_B))
    transform: list[list[float]] = rule(Each(Each(Interval(float), min_len=1), min_len=1),
                                        factory=lambda: [list(r) for r in CHAPTER_A])
    holdout: float = rule(Interval(float, 0.0, 1.0, closed="left"), 0.0)
    resolution: int = rule(Interval(int, 0, 1024), 0)  # 0 (keep), else 4 to 1024 (checked below)
    skip_corrupt: bool = rule(Kind(bool), False)
    url: str = rule(Kind(str, empty=True), "")

    def validate(self) -> None:
        check_fields("data", self)
        _check(self.resolution == 0 or self.resolution >= 4,
               "data.resolution must be 0 (keep) or 4 to 1024, got {}", self.resolution)
        d = len(self.mean)
        _check(len(self.transform) == d and all(len(row) == d for row in self.transform),
               "data.transform must be a {0}x{0} matrix to match data.mean of length {0}", d)


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
        init_std: every weight and bias starts as N(0, init_std^2) (image
            networks: DCGAN's scheme with this std, see models/dcgan.py).
        data_scale: the unit ``"mlp"`` networks work in: an MLP D sees x / data_scale
            and an MLP G's output is data_scale times its last layer's, so both
            compute on numbers of size about 1 when data_scale is the data's size
            (as training on data / data_scale would; 1: plain).
        g_width, d_width: base channels of image networks (``"dcgan"``).
        spectral_norm: spectral norm on every layer of an image discriminator.
        conditional: class-conditional image networks (needs labelled data).
        n_classes: classes of a conditional model (0: taken from the data).
    """

    generator: str = rule(Options(_registry("gankit.models", "GENERATORS"), "generator"), "linear")
    discriminator: str = rule(Options(_registry("gankit.models", "DISCRIMINATORS"), "discriminator"), "chapter")
    latent_dim: int = rule(Interval(int, 1), 2)
    g_hidden: list[int] = rule(Each(Interval(int, 1)), factory=lambda: [16, 16])
    d_hidden: list[int] = rule(Each(Interval(int, 1)), factory=lambda: [16, 16])
    activation: str = rule(Options(_registry("gankit.models", "ACTIVATIONS"), "activation"), "tanh")
    init_std: float = rule(Interval(float, 0.0, closed="neither"), 0.02)
    data_scale: float = rule(Interval(float, 0.0, closed="neither"), 1.0)
    g_width: int = rule(Interval(int, 1), 64)
    d_width: int = rule(Interval(int, 1), 64)
    spectral_norm: bool = rule(Kind(bool), False)
    conditional: bool = rule(Kind(bool), False)
    n_classes: int = rule(Interval(int, 0), 0)

    def validate(self) -> None:
        check_fields("model", self)


@dataclass
class TrainConfig:
    """How to train: the chapter's defaults.

    Attributes:
        epochs: passes over the training data.
        batch_size: examples per D step and per G step.
        lr_d, lr_g: Adam learning rates of the discriminator and generator.
        beta1, beta2: Adam's moment decay rates (both networks).
        loss: objective name, ``"nonsaturating"`` (the chapter's), ``"minimax"``,
            ``"hinge"``, ``"least_squares"`` or ``"wgan"``.
        seed: seeds data, initialisation, data order and noise.
        checkpoint_every: epochs between checkpoints in ``<run>/checkpoints``
            (0: only at the start, at the end and when stopped).
        checkpoint_minutes: also checkpoint every so many minutes (0: off).
        checkpoint_seconds: an epoch's checkpoint (``checkpoint_every``) is skipped
            when the last one is younger than this (0: never skipped); the last
            epoch's, a stopped run's and, with ``lr_backoff``, every one is written.
            Resume stays exact from any of them; 200 fast epochs no longer write 201.
        keep_checkpoints: how many of the newest checkpoints to keep.
        lr_backoff: on divergence, go back to the last checkpoint and multiply
            both learning rates by this factor (0: off, stop instead).
        lr_backoff_tries: how many backoffs before giving up.
        n_critic: D steps per G step.
        penalty: gradient penalty on D, ``"none"``, ``"gp"`` (WGAN-GP) or ``"r1"``.
        penalty_weight: its weight (lambda of WGAN-GP, gamma of R1).
        ema: decay of an exponential moving average of G's weights used for
            sampling and evaluation (0: off; e.g. 0.999).
        lr_schedule: both learning rates over the run's steps: ``"constant"``
            (the chapter's), ``"linear"`` or ``"cosine"`` decay to ``lr_floor``
            times the initial rate at the last step.
        lr_floor: the schedule's last learning rate, as a fraction of the first.
        device: ``"auto"`` (a GPU when there is one, else the CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (see gankit.engines.device).
        precision: ``"32"``, ``"bf16"`` or ``"16"`` (autocast; fp16 with a gradient scaler).
        compile: ``torch.compile`` G and D (the general loop; a failure falls back to eager).
        engine: ``"auto"`` (the fast path where it applies, else the general
            loop), ``"general"`` (always the eager autograd loop) or ``"fast"``
            (the hand-written step of gankit.engines.fast; an error where it does not apply).
        augment: ``"none"``, ``"diffaug"`` or a policy such as ``"translation"`` or
            ``"translation,cutout"`` (parts of ``colour``, ``translation``, ``cutout``):
            differentiable augmentation of every image D sees, real and fake, in both
            steps (images only; gankit.engines.augment).
    """

    epochs: int = rule(Interval(int, 1), 20)
    batch_size: int = rule(Interval(int, 1), 8)
    lr_d: float = rule(Interval(float, 0.0, closed="neither"), 0.05)
    lr_g: float = rule(Interval(float, 0.0, closed="neither"), 0.005)
    beta1: float = rule(Interval(float, 0.0, 1.0, closed="left"), 0.9)
    beta2: float = rule(Interval(float, 0.0, 1.0, closed="left"), 0.999)
    loss: str = rule(Options(_registry("gankit.engines.objectives", "OBJECTIVES"), "loss"), "nonsaturating")
    seed: int = rule(Interval(int, 0, 2**63, closed="left"), 0)
    checkpoint_every: int = rule(Interval(int, 0), 1)
    checkpoint_minutes: float = rule(Interval(float, 0.0), 0.0)
    checkpoint_seconds: float = rule(Interval(float, 0.0), 5.0)
    keep_checkpoints: int = rule(Interval(int, 1), 2)
    lr_backoff: float = rule(Interval(float, 0.0, 1.0, closed="left"), 0.0)  # 0 (off) or a factor in (0, 1)
    lr_backoff_tries: int = rule(Interval(int, 1), 3)
    n_critic: int = rule(Interval(int, 1), 1)
    penalty: str = rule(Options(_registry("gankit.engines.objectives", "PENALTIES", "none"), "penalty"), "none")
    penalty_weight: float = rule(Interval(float, 0.0), 10.0)
    ema: float = rule(Interval(float, 0.0, 1.0, closed="left"), 0.0)
    lr_schedule: str = rule(Options(LR_SCHEDULES, "train.lr_schedule"), "constant")
    lr_floor: float = rule(Interval(float, 0.0, 1.0), 0.0)
    device: str = rule(Matches(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N or mps"), "auto")
    precision: str = rule(Options(PRECISIONS, "train.precision"), "32")
    compile: bool = rule(Kind(bool), False)
    engine: str = rule(Options(ENGINES, "train.engine"), "auto")
    augment: str = rule(Matches(AUGMENT_PATTERN, "none, diffaug, or colour, translation and cutout joined by "
                                "commas (translation,cutout)"), "none")

    def validate(self) -> None:
        check_fields("train", self)
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            # Adam's first step is lr / (1 - beta1), a float32 inside torch: beyond its range torch fails.
            _check(value / (1.0 - min(self.beta1, 0.999999)) < 3e38,
                   "train.{} is too large: {} / (1 - beta1) overflows float32", name, value)


@dataclass
class QualityConfig:
    """Feature-space quality of image runs, measured at the end of training.

    Attributes:
        n: generated images per set (0: as many as the held-out images).
        fd_sets: generated sets of ``n`` the Fréchet distance is averaged over.
        n_yardstick: images a side of the size-matched FD ratio, the headline
            score (0: as many as each generated set). FD grows with the number of
            images, so the ratio is reported at this fixed size however many
            images are scored; ratios compare only at the same value. Raise it
            for larger data sets (it needs twice as many real images).
        classifiers: gankit's feature classifiers (seeds 0, 1, ...) the Fréchet
            distance and its ratio are averaged over; each is trained once and cached.
        kid_subsets, kid_subset_size: KID is averaged over this many random
            subsets of this size (capped at the sample sizes).
        cache_dir: where trained feature classifiers are cached ("" means
            $GANKIT_CACHE, else ~/.cache/gankit).
    """

    n: int = rule(Interval(int, 0), 0)
    fd_sets: int = rule(Interval(int, 1), 5)
    n_yardstick: int = rule(Interval(int, 0), 400)
    classifiers: int = rule(Interval(int, 1), 3)
    kid_subsets: int = rule(Interval(int, 1), 50)
    kid_subset_size: int = rule(Interval(int, 2), 500)
    cache_dir: str = rule(Kind(str, empty=True), "")

    def validate(self) -> None:
        check_fields("quality", self)


@dataclass
class Config:
    """A whole experiment: data, models and training. Defaults are the chapter's.

    Examples:
        >>> from gankit import Config
        >>> config = Config()                       # the chapter's experiment
        >>> config.train.lr_d, config.train.lr_g, config.train.batch_size, config.train.epochs
        (0.05, 0.005, 8, 20)
        >>> config.data.n, config.model.latent_dim
        (1000, 2)
        >>> config.train.epochs = 0
        >>> config.validate()
        Traceback (most recent call last):
        ...
        gankit.errors.UserError: train.epochs must be at least 1, got 0
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)

    def validate(self) -> "Config":
        """Check every value; raise `UserError` naming the first bad one."""
        self.data.validate()
        self.model.validate()
        self.train.validate()
        self.quality.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config", base: "Config | None" = None) -> "Config":
        """Build from a nested dict over ``base`` (default: the defaults); unknown keys and wrong types are `UserError`s."""
        if not isinstance(raw, dict):
            raise UserError(f"{where}: expected a JSON object of sections")
        config = copy.deepcopy(base) if base is not None else cls()
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
        section, name = resolve_key(key, where)
        target = getattr(self, section)
        hint = typing.get_type_hints(type(target))[name]
        setattr(target, name, _coerce(value, hint, f"{where}: {section}.{name}"))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def load_config(path: str | Path | None = None, overrides: Sequence[str | tuple[str, Any]] = (),
                base: Config | None = None) -> Config:
    """Defaults (or ``base``, e.g. a preset), then a JSON file, then overrides; validated.

    Args:
        overrides: ``"key=value"`` text (``--set``; the value parsed as JSON where it
            is JSON) or typed ``(key, value)`` pairs (flags), applied in order.
    """
    raw = read_config_file(path) if path is not None else {}
    return layer(base or Config(), raw, overrides, where=str(path)).validate()


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The JSON object of a config file; `UserError` if it is missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    raw = parse_json(text, str(path))
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object of sections")
    return raw


def layer(base: Config, raw: dict[str, Any], overrides: Sequence[str | tuple[str, Any]] = (),
          where: str = "config") -> Config:
    """A copy of ``base`` with a config file's object (`read_config_file`, from ``where``) and overrides on top.

    Not validated: the caller validates the finished config.
    """
    config = Config.from_dict(raw, where=where, base=base)
    for item in overrides:
        if isinstance(item, tuple):
            config.set(item[0], item[1], where="option")
            continue
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"override '{item}' must look like key=value")
        config.set(key.strip(), parse_value(text.strip(), where=f"--set {key.strip()}"), where="--set")
    return config


def parse_value(text: str, where: str = "--set value") -> Any:
    """``"0.1"`` -> 0.1, ``"[5,3]"`` -> [5, 3], anything else stays a string; too deep a nesting is a `UserError`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    except RecursionError:
        raise _too_deep(where) from None
    _check_depth(value, where)
    return value


def parse_json(text: str, where: str) -> Any:
    """JSON text as Python values; a `UserError` naming ``where`` if it is not JSON or nests too deeply.

    Python's parser recurses once per level and fails with a `RecursionError` near
    1000 levels; anything deeper than `MAX_JSON_DEPTH` is refused here, in one line.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: not valid JSON ({err})") from None
    except RecursionError:
        raise _too_deep(where) from None
    _check_depth(value, where)
    return value


def _check_depth(value: Any, where: str) -> None:
    stack = [(value, 1)]
    while stack:  # iterative: a deep value must not recurse here either
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level > MAX_JSON_DEPTH:
                raise _too_deep(where)
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))


def _too_deep(where: str) -> UserError:
    return UserError(f"{where}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)")


def _sections() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def resolve_key(key: str, where: str = "config") -> tuple[str, str]:
    """``"lr_d"`` or ``"train.lr_d"`` -> ``("train", "lr_d")``; `UserError` for an unknown or ambiguous key."""
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


INT64_MAX = 2**63 - 1


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > INT64_MAX:  # torch's sizes and seeds are int64: beyond, nothing can use it
                raise UserError(f"{where} must be an int of at most {INT64_MAX} in size, got {float(value):.3g}")
            return value
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
