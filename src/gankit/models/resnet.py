"""Residual networks of the 32x32 / 64x64 benchmarks (SNGAN, Miyato et al. 2018; BigGAN's blocks).

- Generator: z -> affine -> (W, s0, s0), then up-sampling residual blocks
  (BN, ReLU, nearest 2x, 3x3 conv, BN, ReLU, 3x3 conv; shortcut: 2x, 1x1 conv),
  then BN, ReLU, a 3x3 conv to the image channels and tanh. W = ``model.g_width``
  at every stage (SNGAN: 256 for CIFAR-10).
- Discriminator: an "optimized" first block (3x3 conv, ReLU, 3x3 conv, 2x2
  average pool; shortcut: pool, 1x1 conv), more down-sampling blocks
  (ReLU, 3x3 conv, ReLU, 3x3 conv, pool; shortcut: 1x1 conv, pool) to twice
  G's first side (32 -> 8), two blocks at that size (identity shortcuts),
  ReLU, a sum over positions and an affine layer to one
  logit. W = ``model.d_width`` (SNGAN: 128). Spectral norm on every layer
  with ``model.spectral_norm`` (the ``resnet`` preset turns it on); no batch norm.
- Conditional (``model.conditional``): G's batch norms take a per-class gain
  and bias (categorical conditional batch norm); D adds a projection term
  <embed(y), h(x)> (Miyato & Koyama 2018), as the ``dcgan`` D does.

Sides halve as in `gankit.models.dcgan.layout` (32 -> 4 in three stages, 28 -> 7 in two).
Weights start Xavier-uniform (gain sqrt 2 inside the residual branches, 1 elsewhere, as
SNGAN's code does), drawn from the generator passed to ``init_weights``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gankit.errors import UserError
from gankit.models.dcgan import _sn, image_shape, projection_logits
from gankit.models.dcgan import layout as _dcgan_layout


def layout(resolution: int) -> tuple[int, int]:
    """(s0, n): the smallest side and the number of 2x stages, as for dcgan (8 to 64, an even side)."""
    try:
        return _dcgan_layout(resolution)
    except UserError as err:
        raise UserError(str(err).replace("dcgan", "resnet")) from None


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are learned per class (plain batch norm when ``n_classes`` is 0).

    Gains are 1 + embed(y), so every class starts as plain batch norm.
    """

    def __init__(self, channels: int, n_classes: int = 0):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=n_classes == 0)
        self.gain = nn.Embedding(n_classes, channels) if n_classes else None
        self.bias = nn.Embedding(n_classes, channels) if n_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.bn(x)  # (B, C, H, W)
        if self.gain is None:
            return h
        return h * (1 + self.gain(labels))[:, :, None, None] + self.bias(labels)[:, :, None, None]


class GBlock(nn.Module):
    """x -> x' of twice the side: BN, ReLU, 2x, conv3, BN, ReLU, conv3; plus 2x, conv1 of x."""

    def __init__(self, c_in: int, c_out: int, n_classes: int = 0):
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm2d(c_in, n_classes), ConditionalBatchNorm2d(c_out, n_classes)
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, labels)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), labels)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """x -> x' (half the side when ``down``): [ReLU,] conv3, ReLU, conv3, [pool]; plus conv1 [and pool] of x.

    The first block (``first``) has no ReLU before its first conv and pools its
    shortcut before the 1x1 conv (SNGAN's "optimized" block, on raw pixels).
    """

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool, sn: bool):
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = _sn(nn.Conv2d(c_in, c_out, 3, 1, 1), sn), _sn(nn.Conv2d(c_out, c_out, 3, 1, 1), sn)
        self.shortcut = _sn(nn.Conv2d(c_in, c_out, 1), sn) if (c_in != c_out or down) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        s = x
        if self.first:
            s = self.shortcut(F.avg_pool2d(s, 2) if self.down else s)
        elif self.shortcut is not None:
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        if self.down:
            h = F.avg_pool2d(h, 2)
        return h + s


def init_resnet_(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Xavier-uniform weights from ``generator`` in `modules()` order (gain sqrt 2 in residual branches).

    Conditional batch-norm gains and biases start at 0 (plain batch norm);
    batch-norm scales at 1; every bias at 0.
    """
    with torch.no_grad():
        for name, m in module.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
                weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
                if isinstance(m, nn.Embedding) and name.rsplit(".", 1)[-1] in ("gain", "bias"):
                    weight.zero_()  # a conditional batch norm's per-class gain and bias
                else:
                    gain = math.sqrt(2) if name.rsplit(".", 1)[-1] in ("conv1", "conv2") else 1.0
                    nn.init.xavier_uniform_(weight, gain, generator=generator)
            elif isinstance(m, nn.BatchNorm2d) and m.affine:
                m.weight.fill_(1.0)
            if isinstance(getattr(m, "bias", None), nn.Parameter):
                m.bias.zero_()


class ResNetGenerator(nn.Module):
    """(B, latent_dim) noise [and (B,) labels] -> (B, C, H, H) images in [-1, 1].

    Args:
        latent_dim, channels, resolution: z's size, the image's C and H (see `layout`).
        width: channels of every stage.
        n_classes: > 0 for a conditional generator (conditional batch norm).
    """

    def __init__(self, latent_dim: int, channels: int, resolution: int, width: int = 128, n_classes: int = 0):
        super().__init__()
        self.s0, n_up = layout(resolution)
        self.width, self.n_classes = width, n_classes
        self.project = nn.Linear(latent_dim, width * self.s0 * self.s0)
        self.blocks = nn.ModuleList(GBlock(width, width, n_classes) for _ in range(n_up))
        self.bn = nn.BatchNorm2d(width)
        self.to_image = nn.Conv2d(width, channels, 3, 1, 1)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.n_classes and labels is None:
            raise UserError("this generator is class-conditional: it needs labels")
        h = self.project(z).view(z.shape[0], self.width, self.s0, self.s0)  # (B, W, s0, s0)
        for block in self.blocks:
            h = block(h, labels)  # (B, W, 2s, 2s)
        return torch.tanh(self.to_image(F.relu(self.bn(h))))  # (B, C, H, H)

    def init_weights(self, std: float, generator: torch.Generator | None = None) -> None:
        """Xavier-uniform (``std`` is not used; see `init_resnet_`)."""
        init_resnet_(self, generator)


class ResNetDiscriminator(nn.Module):
    """(B, C, H, H) images [and (B,) labels] -> (B, 1) logits.

    Args:
        channels, resolution: the image's C and H.
        width: channels of every block.
        spectral_norm: divide every weight by its largest singular value.
        n_classes: > 0 for a projection discriminator.
    """

    def __init__(self, channels: int, resolution: int, width: int = 128, spectral_norm: bool = True,
                 n_classes: int = 0):
        super().__init__()
        _, n = layout(resolution)
        n_down = max(1, n - 1)  # SNGAN's 32x32 D: 32 -> 16 -> 8, then two blocks at 8x8
        blocks = [DBlock(channels, width, down=True, first=True, sn=spectral_norm)]
        blocks += [DBlock(width, width, down=True, first=False, sn=spectral_norm) for _ in range(n_down - 1)]
        blocks += [DBlock(width, width, down=False, first=False, sn=spectral_norm) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.head = _sn(nn.Linear(width, 1), spectral_norm)
        self.embed = _sn(nn.Embedding(n_classes, width), spectral_norm) if n_classes > 0 else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = F.relu(self.blocks(x)).sum((2, 3))  # (B, W): a sum over positions
        return projection_logits(self.head, self.embed, h, labels)

    def init_weights(self, std: float, generator: torch.Generator | None = None) -> None:
        """Xavier-uniform (``std`` is not used; see `init_resnet_`)."""
        init_resnet_(self, generator)


def resnet_generator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """Residual generator for ``model`` (a `ModelConfig`) and images of ``data_shape`` (C, H, H)."""
    channels, resolution = image_shape(data_shape, "resnet")
    return ResNetGenerator(model.latent_dim, channels, resolution, model.g_width,
                           model.n_classes if model.conditional else 0)


def resnet_discriminator(model, data_shape: tuple[int, ...]) -> nn.Module:
    """Residual discriminator (projection discriminator when ``model.conditional``)."""
    channels, resolution = image_shape(data_shape, "resnet")
    return ResNetDiscriminator(channels, resolution, model.d_width, model.spectral_norm,
                               model.n_classes if model.conditional else 0)


__all__ = ["ConditionalBatchNorm2d", "ResNetDiscriminator", "ResNetGenerator", "init_resnet_",
           "resnet_discriminator", "resnet_generator"]
