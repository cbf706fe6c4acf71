"""Named presets: known-good settings for a family of GANs, applied under the user's own.

Precedence: defaults < preset < ``--config`` file < ``--set`` < flags. A
preset is a partial config (sections of keys). The image defaults live here,
not in the dataclasses, so the chapter's defaults stay the chapter's.

``gankit train`` applies a preset when ``--preset NAME`` is given, or, with
``--preset auto`` (the default), the one named in `AUTO_PRESETS` for the
resolved generator (``dcgan`` -> ``dcgan``; with class-conditional networks on the
named data sets that come with labels, `LABELLED_SETS`, and on folders whose images
lie in two or more class sub-folders), else the one named in
`DATA_PRESETS` for the resolved data source (``ring8`` -> ``ring8``; the
chapter's Gaussian and data files get none). ``--preset none`` applies none.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

from gankit.config import Config, layer, read_config_file
from gankit.errors import UserError

# DCGAN with Adam's beta1 0.5 and a moving average of G for sampling. The
# textbook's lr 2e-4 and batch 64 left the digits' FD at about 3x the real
# halves' after 60 epochs; batch 32 and lr 5e-4 (more, larger steps in the
# same time) reach 1.9x to 2.7x over seeds 0-4 in about a minute on one CPU core, and made
# class-conditional (`LABELLED_SETS`, below) 1.2x to 1.8x.
# R1, spectral norm, hinge, least squares, DiffAugment, other widths, latent sizes,
# batch sizes, rates, epoch counts, EMA decays and a decaying rate were no better
# (docs/tutorials/first-image-gan.md).
_DCGAN: dict[str, dict[str, Any]] = {
    "data": {"holdout": 0.5},
    "model": {"generator": "dcgan", "discriminator": "dcgan", "latent_dim": 64, "g_width": 64, "d_width": 64},
    "train": {"lr_d": 5e-4, "lr_g": 5e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 32, "epochs": 60,
              "loss": "nonsaturating", "ema": 0.99},
}


# SNGAN's ResNet recipe (Miyato et al. 2018): hinge loss, spectral norm on D, Adam(2e-4, 0, 0.9),
# batch 64, z of 128, and a moving average of G. SNGAN took 5 D steps per G step, BigGAN 2; on
# the 32x32 shapes folder (30 epochs, docs/tutorials/first-image-gan.md) 1 and 2 ended alike, and 2 costs a quarter
# less per epoch, so 2 it is, until a longer comparison says otherwise.
_RESNET: dict[str, dict[str, Any]] = {
    "data": {"holdout": 0.5},
    "model": {"generator": "resnet", "discriminator": "resnet", "latent_dim": 128, "g_width": 128, "d_width": 128,
              "spectral_norm": True},
    "train": {"loss": "hinge", "lr_d": 2e-4, "lr_g": 2e-4, "beta1": 0.0, "beta2": 0.9, "batch_size": 64,
              "n_critic": 2, "epochs": 100, "ema": 0.999},
}


def _extend(base: dict, **sections: dict) -> dict:
    out = copy.deepcopy(base)
    for section, values in sections.items():
        out.setdefault(section, {}).update(values)
    return out


# The chapter's experiment as close to the truth as its data allow: found by docs/chapter_plus.py's
# search on tuning seeds, judged on 200 others (docs/chapter-plus.md): median fd_to_truth 1.28x the
# MLE's, against 13.1x for the textbook's recipe. The linear G stays; D is the "mlp" variant.
_CHAPTER_PLUS: dict[str, dict[str, Any]] = {
    "model": {"discriminator": "mlp", "d_hidden": [32, 32]},
    "train": {"epochs": 200, "batch_size": 32, "lr_d": 0.01, "lr_g": 0.002, "beta1": 0.0, "loss": "minimax",
              "ema": 0.999},
}

# The 2-D toy targets (gankit/data/targets.py). With the chapter's networks and rates they end at
# losses 0.693/0.693 with a flat D and the wrong output; these were found with `gankit sweep` (docs/how-to/evaluate.md,
# "More targets", gives the modes and p-values measured with them). MLPs with ReLU, N(0, 0.1^2) weights,
# 8 latent dimensions, Adam with a moving average of G; all on the fast path, seconds per run.
_TOY_MLP = {"generator": "mlp", "discriminator": "mlp", "activation": "relu", "init_std": 0.1, "latent_dim": 8,
            "g_hidden": [64, 64], "d_hidden": [64, 64]}
_TOY_TRAIN = {"loss": "nonsaturating", "batch_size": 64, "beta1": 0.5, "beta2": 0.999, "ema": 0.99}
_TOYS: dict[str, dict[str, dict[str, Any]]] = {
    # 8/8 modes on seeds 0-9, 85-90% of samples within 3 std of a mode.
    "ring8": {"data": {"source": "ring8", "n": 2000}, "model": _TOY_MLP,
              "train": {**_TOY_TRAIN, "epochs": 150, "lr_d": 1e-3, "lr_g": 1e-3}},
    # The 25 modes span +-4 with std 0.05: wider networks working in units of 4 (model.data_scale),
    # beta1 0. At data_scale 1 the same search stalled at 15-18 modes, most samples in the corners.
    "grid25": {"data": {"source": "grid25", "n": 4000},
               "model": {**_TOY_MLP, "g_hidden": [128, 128], "d_hidden": [128, 128], "data_scale": 4.0},
               "train": {**_TOY_TRAIN, "batch_size": 128, "beta1": 0.0, "epochs": 300, "lr_d": 5e-4, "lr_g": 5e-4}},
    "moons": {"data": {"source": "moons", "n": 2000}, "model": _TOY_MLP,
              "train": {**_TOY_TRAIN, "epochs": 600, "lr_d": 5e-4, "lr_g": 5e-4}},
    "swissroll": {"data": {"source": "swissroll", "n": 2000}, "model": _TOY_MLP,
                  "train": {**_TOY_TRAIN, "epochs": 600, "lr_d": 5e-4, "lr_g": 5e-4}},
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    **_TOYS,
    "chapter-plus": _CHAPTER_PLUS,
    "dcgan": _DCGAN,
    # WGAN-GP (Gulrajani et al. 2017): critic loss, penalty 10, 5 critic steps, Adam(1e-4, 0, 0.9).
    "wgan-gp": _extend(_DCGAN, train={"loss": "wgan", "penalty": "gp", "penalty_weight": 10.0, "n_critic": 5,
                                      "lr_d": 1e-4, "lr_g": 1e-4, "beta1": 0.0, "beta2": 0.9}),
    # Hinge loss with a spectrally normalised D (SNGAN / SAGAN): two time-scale learning rates.
    "hinge-sn": _extend(_DCGAN, model={"spectral_norm": True},
                        train={"loss": "hinge", "lr_d": 4e-4, "lr_g": 1e-4, "beta1": 0.0, "beta2": 0.9}),
    # Non-saturating loss with an R1 penalty on real data (Mescheder et al. 2018).
    "r1": _extend(_DCGAN, train={"penalty": "r1", "penalty_weight": 1.0}),
    # Least-squares GAN (Mao et al. 2017).
    "lsgan": _extend(_DCGAN, train={"loss": "least_squares"}),
    "resnet": _RESNET,
}

# Generator name -> the preset `--preset auto` applies for it.
AUTO_PRESETS: dict[str, str] = {"dcgan": "dcgan", "resnet": "resnet"}
# Data source -> the preset `--preset auto` applies for it when the generator names none.
# The chapter's Gaussian has none: its defaults are the textbook's, exactly.
DATA_PRESETS: dict[str, str] = {name: name for name in _TOYS}
# Named data sets that come with class labels (gankit.data.named, and the digits). On them `--preset auto`
# makes the image preset's networks class-conditional (labels into G, a projection D), so every class is
# asked for equally often: on the digits an unconditional DCGAN ended 1.9x to 2.7x the real halves' FD
# over seeds 0-4, a conditional one 1.2x to 1.8x, with every class at 9.5% or more (docs/tutorials/first-image-gan.md).
# `--set model.conditional=false` trains an unconditional one.
LABELLED_SETS = ("digits", "mnist", "fashion-mnist", "cifar10")


def preset_config(name: str) -> Config:
    """The defaults with preset ``name`` applied (not yet validated)."""
    if name not in PRESETS:
        raise UserError(f"unknown preset '{name}' (choose from {', '.join(sorted(PRESETS))}, auto, none)")
    return Config.from_dict(PRESETS[name], where=f"preset {name}")


def labelled(source: str) -> str | None:
    """How ``source`` comes with class labels, as ``gankit train`` says it, or None.

    The named sets of `LABELLED_SETS` do; so does a ``folder:DIR`` whose images all lie in
    sub-folders, two or more (`gankit.data.images.folder_classes`: file names only, nothing decoded).
    """
    if source in LABELLED_SETS:
        return "has labels"
    if source.startswith("folder:"):
        from gankit.data.images import folder_classes

        classes = folder_classes(Path(source[7:]))
        if len(classes) >= 2:
            return f"has {len(classes)} classes, its sub-folders"
    return None


def resolve_config(path: str | Path | None, overrides: Sequence[str | tuple[str, Any]],
                   preset: str = "auto") -> tuple[Config, str | None]:
    """The validated config of ``gankit train``: defaults < preset < file < overrides.

    The file is read once; the user's layers go over the preset's.

    Args:
        overrides: as `gankit.config.load_config` takes them.
        preset: a name in `PRESETS`, ``"auto"`` (by the resolved generator, see
            `AUTO_PRESETS`, class-conditional on labelled data, see `labelled`; else by the resolved data
            source, see `DATA_PRESETS`) or ``"none"``.

    Returns:
        (config, the preset applied, as ``gankit train`` prints it, or None).
    """
    raw = read_config_file(path) if path is not None else {}
    where = str(path)
    name = None if preset == "none" else preset
    labels = None
    if preset == "auto":
        asked = layer(Config(), raw, overrides, where)
        name = AUTO_PRESETS.get(asked.model.generator) or DATA_PRESETS.get(asked.data.source)
        if asked.model.generator in AUTO_PRESETS:
            labels = labelled(asked.data.source)
    base = preset_config(name) if name is not None else Config()
    if labels:  # under the user's layers, so --set model.conditional=false still wins
        base.model.conditional = True
        name = f"{name}, class-conditional ({asked.data.source} {labels})"
    return layer(base, raw, overrides, where).validate(), name


def configure(settings: Mapping[str, Any] | None = None, *, preset: str = "auto",
              file: str | Path | None = None) -> Config:
    """The config ``gankit train`` trains for the same settings, from Python: presets included.

    ``Config()`` is the chapter's defaults alone: with ``model.generator = "dcgan"`` set on it,
    the chapter's learning rates and 20 epochs stay. This applies what the command line
    applies: defaults < preset < ``file`` < ``settings`` (see `resolve_config`).

    Args:
        settings: dotted keys and their values, as ``--set`` takes them; ``"model"`` sets both
            networks, as ``--model`` does.
        preset: a name in `PRESETS`, ``"auto"`` (as ``gankit train``) or ``"none"``.
        file: a JSON config file, as ``--config``.

    Returns:
        The validated `Config`.

    Raises:
        UserError: an unknown key or preset, or a value the config refuses.

    >>> from gankit import configure
    >>> config = configure({"data.source": "digits", "model": "dcgan"})
    >>> config.model.conditional, config.train.lr_g, config.train.epochs
    (True, 0.0005, 60)
    >>> configure({"data.source": "ring8"}).train.epochs  # the toy's preset, as gankit train --data ring8
    150
    """
    overrides: list[tuple[str, Any]] = []
    for key, value in (settings or {}).items():
        keys = ("model.generator", "model.discriminator") if key == "model" else (key,)
        overrides += [(k, value) for k in keys]
    return resolve_config(file, overrides, preset)[0]


__all__ = ["AUTO_PRESETS", "DATA_PRESETS", "LABELLED_SETS", "PRESETS", "configure", "labelled", "preset_config", "resolve_config"]
