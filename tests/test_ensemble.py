"""The hand-derived pieces of the ensemble against torch: gradients and Adam."""

import numpy as np
import pytest
import torch

from gankit.engines.bridge import load, store
from gankit.engines.ensemble import Adam, FlatMLP
from gankit.models.mlp import MLP


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu"])
def test_mlp_backward_matches_autograd(activation):
    torch.manual_seed(0)
    nets = [MLP(3, [5, 4], 2, activation) for _ in range(2)]  # R = 2 runs, different weights
    flat = FlatMLP([3, 5, 4, 2], activation, runs=2)
    for r, net in enumerate(nets):
        load(flat, r, net)
    x = torch.randn(2, 6, 3, requires_grad=True)  # (R, M, in)
    upstream = torch.randn(2, 6, 2)  # d loss / d output
    outputs = flat.forward(x.detach().numpy())
    for r, net in enumerate(nets):
        assert np.allclose(outputs[-1][r], net(x[r]).detach().numpy(), atol=1e-6)
    d_input = flat.backward(outputs, upstream.numpy(), param_grads=True, input_grad=True)
    for r, net in enumerate(nets):
        (net(x[r]) * upstream[r]).sum().backward()
        expected = np.concatenate([np.concatenate([lin.weight.grad.T.flatten(), lin.bias.grad])
                                   for lin in net if isinstance(lin, torch.nn.Linear)])
        assert np.abs(flat.grad[r] - expected).max() < 1e-5
        assert np.abs(flat.grad[r] - expected).max() < 1e-2 * np.abs(expected).max()
    assert np.abs(d_input - x.grad.numpy()).max() < 1e-5
    # ...and a wrong upstream gradient is visibly wrong.
    flat.backward(outputs, 1.1 * upstream.numpy(), param_grads=True)
    assert np.abs(flat.grad[1] - expected).max() > 1e-3


def test_flat_views_write_through_and_store_back():
    net = MLP(2, [3], 1)
    flat = FlatMLP([2, 3, 1], "tanh", runs=1)
    load(flat, 0, net)
    flat.theta += 1.0  # an update of the flat array is an update of every layer
    store(flat, 0, net)
    assert torch.allclose(net[0].weight, torch.from_numpy(flat.W[0][0].T.copy()))
    assert net[2].bias.item() == pytest.approx(float(flat.b[1][0, 0, 0]))


def test_adam_matches_torch_with_per_run_learning_rates():
    torch.manual_seed(0)
    lrs, betas = [0.05, 0.001], [(0.9, 0.999), (0.5, 0.99)]
    params = [torch.randn(7, requires_grad=True) for _ in lrs]
    opts = [torch.optim.Adam([p], lr=lr, betas=b) for p, lr, b in zip(params, lrs, betas)]
    theta = np.stack([p.detach().numpy().copy() for p in params])  # (R, P)
    start = theta.copy()
    grad = np.zeros_like(theta)
    adam = Adam(theta, grad, lr=lrs, beta1=[b[0] for b in betas], beta2=[b[1] for b in betas])
    sizes, bc2 = adam.schedule(5)
    for step in range(5):
        g = torch.randn(2, 7) * 10 ** (step - 2)  # gradients over several scales
        for p, opt, row in zip(params, opts, g):
            p.grad = row.clone()
            opt.step()
        grad[:] = g.numpy()
        adam.update(sizes[step], bc2[step])
    expected = np.stack([p.detach().numpy() for p in params])
    assert np.abs(theta - expected).max() < 1e-6
    assert np.abs(expected - start).min() > 1e-4  # every parameter moved: agreement is not trivial
    assert adam.step_count == 5
    assert np.allclose(adam.v[0], opts[0].state[params[0]]["exp_avg_sq"].numpy(), rtol=1e-5)
