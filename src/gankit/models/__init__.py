"""Model registry: networks are chosen by name in `ModelConfig`.

Each entry is a factory ``(model_config, data_shape) -> nn.Module`` where
``data_shape`` is one example's shape without the batch: ``(d,)`` for points,
``(C, H, W)`` for images. Generators map (B, latent_dim) noise to
(B, *data_shape); discriminators map (B, *data_shape) to (B, 1) logits.
Class-conditional networks also take (B,) integer labels as a second argument.
A network with an ``init_weights(std, generator)`` method initialises itself;
others get `init_normal_` (the chapter's N(0, std^2) on every parameter).
"""

import torch
from torch import nn

from gankit.models.dcgan import dcgan_discriminator, dcgan_generator
from gankit.models.resnet import resnet_discriminator, resnet_generator

from gankit.models.mlp import (
    ACTIVATIONS,
    MLP,
    chapter_discriminator,
    init_normal_,
    linear_generator,
    mlp_discriminator,
    mlp_generator,
)

GENERATORS = {"linear": linear_generator, "mlp": mlp_generator, "dcgan": dcgan_generator,
              "resnet": resnet_generator}
DISCRIMINATORS = {"chapter": chapter_discriminator, "mlp": mlp_discriminator, "dcgan": dcgan_discriminator,
                  "resnet": resnet_discriminator}


def build_generator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """Build the generator named in ``model`` (a `ModelConfig`) for examples of ``data_shape``."""
    return GENERATORS[model.generator](model, tuple(data_shape))


def build_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """Build the discriminator named in ``model``; it outputs (B, 1) logits."""
    return DISCRIMINATORS[model.discriminator](model, tuple(data_shape))


def device_of(net: nn.Module) -> torch.device:
    """Where a network's parameters live (inputs drawn on the CPU are moved there); the CPU if it has none."""
    first = next(net.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def init_weights(net: nn.Module, std: float, generator: torch.Generator | None = None) -> None:
    """Initialise ``net`` from ``generator``: its own scheme if it has one, else `init_normal_`."""
    if hasattr(net, "init_weights"):
        net.init_weights(std, generator)
    else:
        init_normal_(net, std, generator)


__all__ = ["ACTIVATIONS", "MLP", "DISCRIMINATORS", "GENERATORS",
           "build_discriminator", "build_generator", "device_of", "init_normal_", "init_weights"]
