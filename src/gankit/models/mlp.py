"""The chapter's networks and a general MLP for either side of a GAN.

- Generator ``"linear"``: one affine layer z -> x. On z ~ N(0, I) its output
  is exactly N(bias, W W^T) (PyTorch's y = z W^T + bias).
- Discriminator ``"chapter"``: affine 5, tanh, affine 3, tanh, affine 1 (a logit).
- ``"mlp"`` on either side: hidden widths and activation from the config.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


class MLP(nn.Sequential):
    """Affine layers of the given widths with an activation between them.

    Args:
        in_dim: input features.
        hidden: widths of the hidden layers (may be empty: one affine layer).
        out_dim: output features.
        activation: a name in `ACTIVATIONS`.

    Shapes: (B, in_dim) -> (B, out_dim).
    """

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int, activation: str = "tanh"):
        widths = [in_dim, *hidden, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0:
                layers.append(ACTIVATIONS[activation]())
            layers.append(nn.Linear(a, b))
        super().__init__(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim


def init_normal_(module: nn.Module, std: float, generator: torch.Generator | None = None) -> None:
    """Draw every parameter from N(0, std^2), in `parameters()` order (the chapter's init)."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, std, generator=generator)


def _linear_generator(model, latent_dim: int, data_dim: int) -> nn.Module:
    return MLP(latent_dim, [], data_dim)


def _mlp_generator(model, latent_dim: int, data_dim: int) -> nn.Module:
    return MLP(latent_dim, list(model.g_hidden), data_dim, model.activation)


def _chapter_discriminator(model, data_dim: int) -> nn.Module:
    return MLP(data_dim, [5, 3], 1, "tanh")


def _mlp_discriminator(model, data_dim: int) -> nn.Module:
    return MLP(data_dim, list(model.d_hidden), 1, model.activation)


GENERATORS = {"linear": _linear_generator, "mlp": _mlp_generator}
DISCRIMINATORS = {"chapter": _chapter_discriminator, "mlp": _mlp_discriminator}


def build_generator(model, data_dim: int) -> nn.Module:
    """Build the generator named in ``model`` (a `ModelConfig`) for ``data_dim`` outputs."""
    return GENERATORS[model.generator](model, model.latent_dim, data_dim)


def build_discriminator(model, data_dim: int) -> nn.Module:
    """Build the discriminator named in ``model`` (a `ModelConfig`); outputs (B, 1) logits."""
    return DISCRIMINATORS[model.discriminator](model, data_dim)
