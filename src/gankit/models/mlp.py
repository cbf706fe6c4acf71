"""The chapter's networks and a general MLP for either side of a GAN.

- Generator ``"linear"``: one affine layer z -> x. On z ~ N(0, I) its output
  is exactly N(bias, W W^T) (PyTorch's y = z W^T + bias).
- Discriminator ``"chapter"``: affine 5, tanh, affine 3, tanh, affine 1 (a logit).
- ``"mlp"`` on either side: hidden widths and activation from the config, in
  units of ``model.data_scale`` (D divides its input by it, G multiplies its
  output by it), so that both compute on numbers of size about 1.
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
        in_scale: the input is divided by it first (a fixed unit, not a parameter).
        out_scale: the output is multiplied by it last (likewise).

    Shapes: (B, in_dim) -> (B, out_dim).
    """

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int, activation: str = "tanh",
                 in_scale: float = 1.0, out_scale: float = 1.0):
        widths = [in_dim, *hidden, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0:
                layers.append(ACTIVATIONS[activation]())
            layers.append(nn.Linear(a, b))
        super().__init__(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.in_scale, self.out_scale = float(in_scale), float(out_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_scale != 1.0:  # (B, in_dim); skipped at 1 so plain networks compute exactly as before
            x = x / self.in_scale
        x = super().forward(x)
        return x * self.out_scale if self.out_scale != 1.0 else x


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
    """latent_dim -> g_hidden... -> d, times ``model.data_scale``."""
    return MLP(model.latent_dim, list(model.g_hidden), _points_dim(data_shape, "mlp"), model.activation,
               out_scale=model.data_scale)


def chapter_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """The chapter's discriminator: d -> 5 -> 3 -> 1 with tanh."""
    return MLP(_points_dim(data_shape, "chapter"), [5, 3], 1, "tanh")


def mlp_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """x / ``model.data_scale``: d -> d_hidden... -> 1."""
    return MLP(_points_dim(data_shape, "mlp"), list(model.d_hidden), 1, model.activation,
               in_scale=model.data_scale)
