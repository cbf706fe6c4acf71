import pytest
import torch

from gankit.config import ModelConfig
from gankit.models import DISCRIMINATORS, GENERATORS, MLP, build_discriminator, build_generator, init_normal_


def test_chapter_networks_have_the_chapter_shapes():
    cfg = ModelConfig()
    G, D = build_generator(cfg, (2,)), build_discriminator(cfg, (2,))
    assert [tuple(p.shape) for p in G.parameters()] == [(2, 2), (2,)]
    assert [tuple(p.shape) for p in D.parameters()] == [(5, 2), (5,), (3, 5), (3,), (1, 3), (1,)]
    assert sum(p.numel() for p in D.parameters()) == 37  # with G's 6: 43 parameters
    assert sum(p.numel() for p in G.parameters()) == 6


@pytest.mark.parametrize("generator", sorted(GENERATORS))
@pytest.mark.parametrize("discriminator", sorted(DISCRIMINATORS))
@pytest.mark.parametrize("dim,latent", [(1, 1), (2, 2), (5, 3)])
def test_every_registered_model_shape(generator, discriminator, dim, latent):
    cfg = ModelConfig(generator=generator, discriminator=discriminator, latent_dim=latent)
    G, D = build_generator(cfg, (dim,)), build_discriminator(cfg, (dim,))
    z = torch.randn(7, latent)
    x = G(z)
    assert x.shape == (7, dim)
    assert D(x).shape == (7, 1)


def test_init_normal_std_and_seed():
    net = MLP(50, [200], 50)
    g1 = torch.Generator().manual_seed(3)
    init_normal_(net, 0.02, g1)
    values = torch.cat([p.detach().flatten() for p in net.parameters()])
    assert 0.018 < float(values.std()) < 0.022
    assert abs(float(values.mean())) < 0.002
    other = MLP(50, [200], 50)
    init_normal_(other, 0.02, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), other.parameters()))


def test_point_networks_refuse_image_shapes():
    from gankit.errors import UserError

    with pytest.raises(UserError, match=r"'linear' network takes point data"):
        build_generator(ModelConfig(), (1, 8, 8))
