import pytest
import torch

from gankit.config import ModelConfig
from gankit.errors import UserError
from gankit.models import build_discriminator, build_generator, init_weights
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator, layout


@pytest.mark.parametrize("resolution,expected", [(8, (4, 1)), (16, (4, 2)), (28, (7, 2)), (32, (4, 3)),
                                                 (64, (4, 4)), (12, (6, 1))])
def test_layout(resolution, expected):
    assert layout(resolution) == expected


@pytest.mark.parametrize("bad", [4, 7, 9, 65, 128])
def test_layout_refuses_unsupported_sides(bad):
    with pytest.raises(UserError, match="dcgan networks"):
        layout(bad)


def test_refuses_points_and_non_square():
    cfg = ModelConfig(generator="dcgan", discriminator="dcgan")
    with pytest.raises(UserError, match="square images"):
        build_generator(cfg, (2,))
    with pytest.raises(UserError, match="square images"):
        build_discriminator(cfg, (1, 8, 16))


def test_init_is_seeded_and_dcgan_shaped():
    a, b = DCGANGenerator(8, 1, 8, 16), DCGANGenerator(8, 1, 8, 16)
    init_weights(a, 0.02, torch.Generator().manual_seed(5))
    init_weights(b, 0.02, torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    bn = a.blocks[1]
    a.requires_grad_(False)
    assert 0.95 < float(bn.weight.mean()) < 1.05  # batch-norm scales ~ N(1, 0.02^2), not N(0, .)
    conv = a.blocks[0].weight
    assert 0.015 < float(conv.std()) < 0.025 and float(bn.bias.abs().max()) == 0.0


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    D = DCGANDiscriminator(1, 8, 8, spectral_norm=True)
    init_weights(D, 0.5, torch.Generator().manual_seed(0))  # large weights: sigma >> 1 before the norm
    D.train()
    for _ in range(30):  # power iterations converge over forward passes
        D(torch.randn(2, 1, 8, 8))
    head = D.head
    sigma = torch.linalg.matrix_norm(head.weight.detach(), ord=2)
    raw = torch.linalg.matrix_norm(head.parametrizations.weight.original.detach(), ord=2)
    assert float(raw) > 2.0
    assert 0.97 < float(sigma) < 1.03
    assert "head.parametrizations.weight.0.u" in D.state_dict()  # saved with the weights


def test_conditional_generator_needs_labels():
    G = DCGANGenerator(8, 1, 8, 8, n_classes=3)
    with pytest.raises(UserError, match="conditional"):
        G(torch.randn(2, 8))
