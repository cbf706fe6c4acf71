import pytest
import torch

from gankit.config import ModelConfig
from gankit.errors import UserError
from gankit.models import (
    DISCRIMINATORS,
    GENERATORS,
    MLP,
    build_discriminator,
    build_generator,
    init_normal_,
    init_weights,
)


def test_chapter_networks_have_the_chapter_shapes():
    cfg = ModelConfig()
    G, D = build_generator(cfg, (2,)), build_discriminator(cfg, (2,))
    assert [tuple(p.shape) for p in G.parameters()] == [(2, 2), (2,)]
    assert [tuple(p.shape) for p in D.parameters()] == [(5, 2), (5,), (3, 5), (3,), (1, 3), (1,)]
    assert sum(p.numel() for p in D.parameters()) == 37  # with G's 6: 43 parameters
    assert sum(p.numel() for p in G.parameters()) == 6


POINT_SHAPES = [((1,), 1), ((2,), 2), ((5,), 3)]  # (data_shape, latent_dim)
IMAGE_SHAPES = [((1, r, r), 8) for r in (8, 12, 16, 28, 32, 64)] + [((3, 16, 16), 8)]


def _kind(registry, name) -> str:
    """What a registered network takes, found by building it: "points" (d,) or "images" (C, H, W)."""
    try:
        registry[name](ModelConfig(g_width=4, d_width=4), (2,))
        return "points"
    except UserError:
        return "images"


KINDS = {name: _kind(registry, name) for registry in (GENERATORS, DISCRIMINATORS) for name in registry}


def test_kinds_are_found():
    assert KINDS["linear"] == KINDS["chapter"] == "points" and KINDS["dcgan"] == "images"


def _contract_cases():
    """Every registered (G, D) pair of one data kind, on every shape and resolution of that kind."""
    for g in sorted(GENERATORS):
        for d in sorted(DISCRIMINATORS):
            if KINDS[g] != KINDS[d]:
                continue
            for shape, latent in POINT_SHAPES if KINDS[g] == "points" else IMAGE_SHAPES:
                yield pytest.param(g, d, shape, latent, id=f"{g}-{d}-{'x'.join(map(str, shape))}")


@pytest.mark.parametrize("generator,discriminator,shape,latent", list(_contract_cases()))
def test_every_registered_model_shape(generator, discriminator, shape, latent):
    cfg = ModelConfig(generator=generator, discriminator=discriminator, latent_dim=latent, g_width=4, d_width=4)
    G, D = build_generator(cfg, shape), build_discriminator(cfg, shape)
    init_weights(G, 0.02, torch.Generator().manual_seed(0))
    init_weights(D, 0.02, torch.Generator().manual_seed(1))
    z = torch.randn(3, latent)
    x = G(z)
    assert x.shape == (3, *shape)
    assert D(x).shape == (3, 1)
    if KINDS[generator] == "images":
        assert float(x.detach().abs().max()) <= 1.0  # tanh output, the data's range
        # conditional variants and spectral norm keep the contract
        cfg.conditional, cfg.n_classes, cfg.spectral_norm = True, 3, True
        G, D = build_generator(cfg, shape), build_discriminator(cfg, shape)
        # initialised as training does: under PyTorch's default init a 4-wide resnet D can end in
        # a ReLU that is 0 everywhere, and then no label (nor image) changes its logit
        init_weights(G, 0.02, torch.Generator().manual_seed(0))
        init_weights(D, 0.02, torch.Generator().manual_seed(1))
        labels = torch.tensor([0, 2, 1])
        x = G(z, labels)
        assert x.shape == (3, *shape) and D(x, labels).shape == (3, 1)
        assert not torch.equal(D(x, labels), D(x, torch.tensor([1, 0, 2])))  # the label matters


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


def test_mlp_data_scale_is_a_fixed_unit_on_both_sides():
    from gankit.metrics.gaussian import exact_gaussian

    cfg = ModelConfig(generator="mlp", discriminator="mlp", latent_dim=3, g_hidden=[4], d_hidden=[5], data_scale=4.0)
    G, D = build_generator(cfg, (2,)), build_discriminator(cfg, (2,))
    plain = ModelConfig(**{**cfg.__dict__, "data_scale": 1.0})
    G1, D1 = build_generator(plain, (2,)), build_discriminator(plain, (2,))
    G1.load_state_dict(G.state_dict())  # the scale is not a parameter: the same weights load
    D1.load_state_dict(D.state_dict())
    z, x = torch.randn(6, 3), torch.randn(6, 2) * 4
    assert torch.allclose(G(z), 4.0 * G1(z), atol=1e-6) and not torch.allclose(G(z), G1(z), atol=1e-3)
    assert torch.allclose(D(x), D1(x / 4.0), atol=1e-6) and not torch.allclose(D(x), D1(x), atol=1e-3)
    # An affine G with the scale is still exactly Gaussian: N(4 b, 16 W W^T).
    cfg.g_hidden = []
    G = build_generator(cfg, (2,))
    mean, cov = exact_gaussian(G)
    W, b = G[0].weight.detach().double(), G[0].bias.detach().double()
    assert torch.allclose(mean, 4 * b) and torch.allclose(cov, 16 * W @ W.T)
