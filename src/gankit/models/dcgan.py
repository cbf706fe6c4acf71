"""DCGAN networks for square images (Radford et al. 2016), optionally class-conditional.

- Generator: z -> affine -> (C0, s0, s0), then transposed convolutions
  (kernel 4, stride 2) that double the side and halve the channels, each with
  batch norm and ReLU, then a 3x3 convolution to the image channels and tanh.
- Discriminator: a 3x3 convolution, then strided convolutions (kernel 4,
  stride 2) that halve the side and double the channels, leaky ReLU (0.2),
  then an affine layer to one logit. No batch norm (so gradient penalties are
  per sample); optional spectral norm on every layer.
- Conditional (``model.conditional``): G concatenates a learned embedding of
  the class to z; D adds a projection term <embed(y), h(x)> to its logit
  (Miyato & Koyama 2018).

The side is halved while it stays even and at least 4: 8 -> 4, 16 -> 4,
28 -> 7, 32 -> 4, 64 -> 4, 12 -> 6. Resolutions from 8 to 64 are supported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gankit.errors import UserError
from gankit.models.mlp import LEAKY_SLOPE


def layout(resolution: int) -> tuple[int, int]:
    """(s0, n_up): the smallest side and the number of 2x up/down-sampling stages."""
    if not 8 <= resolution <= 64:
        raise UserError(f"dcgan networks take square images of side 8 to 64, got {resolution}")
    side, n = resolution, 0
    while side % 2 == 0 and side // 2 >= 4:
        side, n = side // 2, n + 1
    if n == 0:
        raise UserError(f"dcgan networks need an even image side (e.g. 8, 16, 28, 32, 64), got {resolution}")
    return side, n


def image_shape(data_shape: tuple[int, ...], family: str = "dcgan") -> tuple[int, int]:
    """(channels, side) of square images (C, H, H); `UserError` naming the network ``family`` otherwise."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise UserError(f"the '{family}' networks take square images (C, H, H), not data of shape {tuple(data_shape)}")
    return data_shape[0], data_shape[1]


class SpectralNorm(nn.Module):
    """Parametrisation W -> W / sigma(W), sigma from one power iteration per forward in training.

    ``u`` starts as a constant unit vector (no hidden random draw), so a model
    is fully determined by its arguments and the seeded initialisation.
    """

    def __init__(self, out_features: int, eps: float = 1e-12):
        super().__init__()
        self.eps = eps
        self.register_buffer("u", torch.full((out_features,), out_features ** -0.5))

    def forward(self, weight: Tensor) -> Tensor:
        mat = weight.flatten(1)  # (out, in...)
        if self.training:
            with torch.no_grad():
                v = F.normalize(mat.t() @ self.u, dim=0, eps=self.eps)
                self.u.copy_(F.normalize(mat @ v, dim=0, eps=self.eps))
        u = self.u.clone()  # the buffer may change before backward
        v = F.normalize(mat.t() @ u, dim=0, eps=self.eps).detach()
        sigma = torch.dot(u, mat @ v)
        return weight / sigma


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
    if enabled:
        parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight.shape[0]))
    return module


def init_dcgan_(module: nn.Module, std: float, generator: torch.Generator | None = None) -> None:
    """DCGAN's initialisation, drawn from ``generator`` in `modules()` order.

    Convolution, affine and embedding weights ~ N(0, std^2); batch-norm scales
    ~ N(1, std^2); every bias 0.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
                weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
                weight.normal_(0.0, std, generator=generator)
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                m.weight.normal_(1.0, std, generator=generator)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()


class DCGANGenerator(nn.Module):
    """(B, latent_dim) noise [and (B,) labels] -> (B, C, H, H) images in [-1, 1].

    Args:
        latent_dim: size of z.
        channels: image channels C.
        resolution: image side H (see `layout`).
        width: channels of the last hidden stage; the first has width * 2^(n_up - 1).
        n_classes: > 0 for a conditional generator (labels in 0..n_classes-1).
    """

    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int = 64, n_classes: int = 0):
        super().__init__()
        self.s0, n_up = layout(resolution)
        self.c0 = width * 2 ** (n_up - 1)
        self.n_classes = n_classes
        self.embed = nn.Embedding(n_classes, latent_dim) if n_classes > 0 else None
        in_dim = latent_dim * (2 if n_classes > 0 else 1)
        self.project = nn.Sequential(nn.Linear(in_dim, self.c0 * self.s0 * self.s0, bias=False),
                                     nn.BatchNorm1d(self.c0 * self.s0 * self.s0), nn.ReLU())
        blocks: list[nn.Module] = []
        c = self.c0
        for _ in range(n_up):
            out = max(c // 2, width)
            blocks += [nn.ConvTranspose2d(c, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            c = out
        blocks += [nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            if labels is None:
                raise UserError("this generator is class-conditional: it needs labels")
            z = torch.cat([z, self.embed(labels)], 1)  # (B, 2 latent)
        h = self.project(z).view(z.shape[0], self.c0, self.s0, self.s0)  # (B, C0, s0, s0)
        return self.blocks(h)  # (B, C, H, H)

    def init_weights(self, std: float, generator: torch.Generator | None = None) -> None:
        init_dcgan_(self, std, generator)


def projection_logits(head: nn.Module, embed: nn.Module | None, h: Tensor, labels: Tensor | None) -> Tensor:
    """D's (B, 1) logits from its (B, F) features: ``head(h)``, plus <embed(y), h> when ``embed`` is a
    projection discriminator's class embedding (Miyato and Koyama 2018)."""
    logits = head(h)
    if embed is not None:
        if labels is None:
            raise UserError("this discriminator is class-conditional: it needs labels")
        logits = logits + (embed(labels) * h).sum(1, keepdim=True)
    return logits


class DCGANDiscriminator(nn.Module):
    """(B, C, H, H) images [and (B,) labels] -> (B, 1) logits.

    Args:
        channels, resolution: the image's C and H.
        width: channels of the first stage; each downsampling doubles them.
        spectral_norm: divide every weight by its largest singular value.
        n_classes: > 0 for a projection discriminator.
    """

    def __init__(self, channels: int, resolution: int, width: int = 64, spectral_norm: bool = False,
                 n_classes: int = 0):
        super().__init__()
        s0, n_down = layout(resolution)
        layers: list[nn.Module] = [_sn(nn.Conv2d(channels, width, 3, 1, 1), spectral_norm), nn.LeakyReLU(LEAKY_SLOPE)]
        c = width
        for _ in range(n_down):
            layers += [_sn(nn.Conv2d(c, 2 * c, 4, 2, 1), spectral_norm), nn.LeakyReLU(LEAKY_SLOPE)]
            c *= 2
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.head = _sn(nn.Linear(c * s0 * s0, 1), spectral_norm)
        self.embed = _sn(nn.Embedding(n_classes, c * s0 * s0), spectral_norm) if n_classes > 0 else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return projection_logits(self.head, self.embed, self.features(x), labels)

    def init_weights(self, std: float, generator: torch.Generator | None = None) -> None:
        init_dcgan_(self, std, generator)


def dcgan_generator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """DCGAN generator for ``model`` (a `ModelConfig`) and images of ``data_shape`` (C, H, H)."""
    channels, resolution = image_shape(data_shape)
    return DCGANGenerator(model.latent_dim, channels, resolution, model.g_width,
                          model.n_classes if model.conditional else 0)


def dcgan_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """DCGAN discriminator (projection discriminator when ``model.conditional``)."""
    channels, resolution = image_shape(data_shape)
    return DCGANDiscriminator(channels, resolution, model.d_width, model.spectral_norm,
                              model.n_classes if model.conditional else 0)
