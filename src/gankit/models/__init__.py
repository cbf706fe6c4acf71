"""Model registry: networks are chosen by name in `ModelConfig`."""

from gankit.models.mlp import (
    ACTIVATIONS,
    MLP,
    build_discriminator,
    build_generator,
    DISCRIMINATORS,
    GENERATORS,
    init_normal_,
)

__all__ = ["ACTIVATIONS", "MLP", "DISCRIMINATORS", "GENERATORS",
           "build_discriminator", "build_generator", "init_normal_"]
