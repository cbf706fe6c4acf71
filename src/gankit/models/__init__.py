"""Model registry: networks are chosen by name in `ModelConfig`.

Each entry is a factory ``(model_config, data_shape) -> nn.Module`` where
``data_shape`` is one example's shape without the batch: ``(d,)`` for points.
Generators map (B, latent_dim) noise to (B, *data_shape); discriminators map
(B, *data_shape) to (B, 1) logits.
"""

from torch import nn

from gankit.models.mlp import (
    ACTIVATIONS,
    MLP,
    chapter_discriminator,
    init_normal_,
    linear_generator,
    mlp_discriminator,
    mlp_generator,
)

GENERATORS = {"linear": linear_generator, "mlp": mlp_generator}
DISCRIMINATORS = {"chapter": chapter_discriminator, "mlp": mlp_discriminator}


def build_generator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """Build the generator named in ``model`` (a `ModelConfig`) for examples of ``data_shape``."""
    return GENERATORS[model.generator](model, tuple(data_shape))


def build_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """Build the discriminator named in ``model``; it outputs (B, 1) logits."""
    return DISCRIMINATORS[model.discriminator](model, tuple(data_shape))


__all__ = ["ACTIVATIONS", "MLP", "DISCRIMINATORS", "GENERATORS",
           "build_discriminator", "build_generator", "init_normal_"]
