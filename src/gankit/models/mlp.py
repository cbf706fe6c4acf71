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

LEAKY_SLOPE = 0.2  # of "leaky_relu", here and in the fast path's hand-written step
# Activations of "mlp" networks by name (the fast path implements some of them by hand).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
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


def _points_dim(data_shape: tuple[int, ...], name: str) -> int:
    if len(data_shape) != 1:
        from gankit.errors import UserError

        raise UserError(f"the '{name}' network takes point data (N, d), not data of shape {tuple(data_shape)}")
    return data_shape[0]


def linear_generator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """The chapter's generator: one affine layer, latent_dim -> d."""
    return MLP(model.latent_dim, [], _points_dim(data_shape, "linear"))


def mlp_generator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """latent_dim -> g_hidden... -> d."""
    return MLP(model.latent_dim, list(model.g_hidden), _points_dim(data_shape, "mlp"), model.activation)


def chapter_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """The chapter's discriminator: d -> 5 -> 3 -> 1 with tanh."""
    return MLP(_points_dim(data_shape, "chapter"), [5, 3], 1, "tanh")


def mlp_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """d -> d_hidden... -> 1."""
    return MLP(_points_dim(data_shape, "mlp"), list(model.d_hidden), 1, model.activation)
