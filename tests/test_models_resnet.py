"""The residual networks: SNGAN's sizes, spectral norm, conditional batch norm, seeded init."""

import math

import pytest
import torch

from gankit.config import ModelConfig
from gankit.errors import UserError
from gankit.models import build_discriminator, build_generator, init_weights
from gankit.models.resnet import ConditionalBatchNorm2d


def _cfg(**kw):
    return ModelConfig(generator="resnet", discriminator="resnet", **{"latent_dim": 8, "g_width": 8, "d_width": 8, **kw})


def test_sngan_cifar_sizes():
    """SNGAN's CIFAR-10 ResNet (G width 256, D width 128, z 128): about 4.3M and 1.05M parameters."""
    m = _cfg(latent_dim=128, g_width=256, d_width=128, spectral_norm=True)
    G, D = build_generator(m, (3, 32, 32)), build_discriminator(m, (3, 32, 32))
    assert 4_250_000 < sum(p.numel() for p in G.parameters()) < 4_300_000
    assert 1_040_000 < sum(p.numel() for p in D.parameters()) < 1_070_000
    assert len(G.blocks) == 3 and len(D.blocks) == 4  # 4 -> 32; 32 -> 16 -> 8, two blocks at 8


def test_spectral_norm_holds_every_layer_near_one():
    m = _cfg(spectral_norm=True)
    D = build_discriminator(m, (3, 16, 16))
    init_weights(D, 0.02, torch.Generator().manual_seed(0))
    x = torch.randn(4, 3, 16, 16)
    for _ in range(15):  # power iterations run in training mode (8 layers: 3 in the first block, 2 + 2, the head)
        D(x)
    sigmas = [float(torch.linalg.matrix_norm(mod.weight.detach().flatten(1), ord=2))
              for mod in D.modules() if hasattr(mod, "parametrizations")]
    assert len(sigmas) == 8 and all(0.95 < s < 1.05 for s in sigmas), sigmas
    plain = build_discriminator(_cfg(spectral_norm=False), (3, 16, 16))
    init_weights(plain, 0.02, torch.Generator().manual_seed(0))
    assert not any(hasattr(mod, "parametrizations") for mod in plain.modules())


def test_init_is_seeded_xavier():
    G1, G2 = (build_generator(_cfg(g_width=32), (1, 16, 16)) for _ in range(2))
    init_weights(G1, 0.02, torch.Generator().manual_seed(3))
    init_weights(G2, 0.02, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(G1.parameters(), G2.parameters()))
    w = G1.blocks[0].conv1.weight  # (32, 32, 3, 3), gain sqrt 2
    bound = math.sqrt(2) * math.sqrt(6 / (32 * 9 + 32 * 9))
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    assert float(G1.blocks[0].conv1.bias.abs().max()) == 0.0


def test_conditional_batch_norm_starts_plain_and_learns_per_class():
    bn = ConditionalBatchNorm2d(4, n_classes=3)
    x = torch.randn(6, 4, 5, 5)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.nn.init.zeros_(bn.gain.weight), torch.nn.init.zeros_(bn.bias.weight)
    same = bn(x, labels)
    assert torch.allclose(same, torch.nn.functional.batch_norm(x, None, None, training=True), atol=1e-5)
    with torch.no_grad():
        bn.bias.weight[1] = 5.0
    moved = bn(x, labels)
    assert torch.allclose(moved[labels == 1], same[labels == 1] + 5.0, atol=1e-5)
    assert torch.allclose(moved[labels != 1], same[labels != 1], atol=1e-5)


def test_conditional_generator_needs_labels_and_uses_them():
    m = _cfg(conditional=True, n_classes=2)
    G = build_generator(m, (1, 8, 8))
    init_weights(G, 0.02, torch.Generator().manual_seed(0))
    with pytest.raises(UserError, match="needs labels"):
        G(torch.randn(2, 8))
    with torch.no_grad():
        G.blocks[0].bn1.bias.weight[1] = 1.0  # class 1 gets its own bias
    z = torch.randn(4, 8)
    a, b = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.ones(4, dtype=torch.long))
    assert float((a - b).abs().mean()) > 1e-3


def test_resnet_refuses_other_shapes_by_name():
    with pytest.raises(UserError, match="'resnet' networks take square images"):
        build_generator(_cfg(), (2,))
    with pytest.raises(UserError, match="resnet networks take square images of side 8 to 64"):
        build_discriminator(_cfg(), (3, 128, 128))
