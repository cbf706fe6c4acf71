"""GAN objectives as pure functions of the discriminator's logits.

Notation: o is a logit, D(x) = sigmoid(o) the probability that x is real.
We use log(sigmoid(o)) = -softplus(-o) and log(1 - sigmoid(o)) = -softplus(o),
which stay finite for any logit (never sigmoid followed by a log).

Every loss is *summed* over the batch, as the chapter does
(``BCEWithLogitsLoss(reduction="sum")``); divide by the batch size for a mean.
Each objective is a pair ``(d_loss(real_logits, fake_logits), g_loss(fake_logits))``;
both are minimised. Gradient penalties on D (WGAN-GP, R1) sit at the end.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


def bce_real(logits: Tensor) -> Tensor:
    """Sum of BCE(sigmoid(o), 1) = -log D(x) = softplus(-o)."""
    return F.softplus(-logits).sum()


def bce_fake(logits: Tensor) -> Tensor:
    """Sum of BCE(sigmoid(o), 0) = -log(1 - D(x)) = softplus(o)."""
    return F.softplus(logits).sum()


def d_loss_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The chapter's discriminator loss, a binary classifier's cross-entropy.

    loss_D = ( sum -log D(x) + sum -log(1 - D(G(z))) ) / 2
           = ( sum softplus(-o_real) + sum softplus(o_fake) ) / 2

    Args:
        real_logits: (B,) or (B, 1) logits of real examples.
        fake_logits: (B,) or (B, 1) logits of generated examples.

    Returns:
        A scalar; ln 2 per example when D outputs 1/2 everywhere.
    """
    return (bce_real(real_logits) + bce_fake(fake_logits)) / 2


def g_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """The chapter's generator loss: minimise -log D(G(z)) = softplus(-o_fake).

    The same as feeding G(z) to the cross-entropy with label 1. Its gradient
    stays large while D confidently rejects the fakes.
    """
    return bce_real(fake_logits)


def g_loss_minimax(fake_logits: Tensor) -> Tensor:
    """The saturating minimax generator loss: minimise log(1 - D(G(z))).

    log(1 - sigmoid(o)) = -softplus(o). Its gradient vanishes as D(G(z)) -> 0,
    which is why the chapter trains with the non-saturating loss instead.
    """
    return -F.softplus(fake_logits).sum()


def d_loss_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Hinge loss for D (Lim & Ye 2017; SAGAN, BigGAN).

    loss_D = sum max(0, 1 - o_real) + sum max(0, 1 + o_fake)

    Unlike the cross-entropy it is not halved: zero once D separates real
    (o >= 1) from fake (o <= -1) by a margin.
    """
    return F.relu(1 - real_logits).sum() + F.relu(1 + fake_logits).sum()


def g_loss_hinge(fake_logits: Tensor) -> Tensor:
    """Hinge loss for G: minimise -o_fake (the same as WGAN's)."""
    return -fake_logits.sum()


def d_loss_least_squares(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Least-squares GAN (Mao et al. 2017), targets real 1 and fake 0.

    loss_D = ( sum (o_real - 1)^2 + sum o_fake^2 ) / 2
    """
    return ((real_logits - 1).pow(2).sum() + fake_logits.pow(2).sum()) / 2


def g_loss_least_squares(fake_logits: Tensor) -> Tensor:
    """Least-squares G loss: ( sum (o_fake - 1)^2 ) / 2."""
    return (fake_logits - 1).pow(2).sum() / 2


def d_loss_wasserstein(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Wasserstein critic loss (Arjovsky et al. 2017): sum o_fake - sum o_real.

    The critic's outputs are scores, not logits of a probability; it needs a
    Lipschitz constraint, here a gradient penalty (``train.penalty="gp"``).
    """
    return fake_logits.sum() - real_logits.sum()


def g_loss_wasserstein(fake_logits: Tensor) -> Tensor:
    """Wasserstein G loss: minimise -sum o_fake."""
    return -fake_logits.sum()


class Objective(NamedTuple):
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]


OBJECTIVES: dict[str, Objective] = {
    "nonsaturating": Objective(d_loss_bce, g_loss_nonsaturating),
    "minimax": Objective(d_loss_bce, g_loss_minimax),
    "hinge": Objective(d_loss_hinge, g_loss_hinge),
    "least_squares": Objective(d_loss_least_squares, g_loss_least_squares),
    "wgan": Objective(d_loss_wasserstein, g_loss_wasserstein),
}


def get_objective(name: str) -> Objective:
    """Look up an objective by name (see `OBJECTIVES`)."""
    return OBJECTIVES[name]


# Objectives whose critic outputs scores with no scale, hence no equilibrium loss value.
UNSCALED = frozenset({"wgan"})


def equilibrium(loss: str) -> tuple[float, float] | None:
    """(loss_D, loss_G) per example when D outputs 1/2 (logit 0) everywhere, or None for ``wgan``.

    The values the losses settle near when D can no longer tell real from fake:
    ln 2 and ln 2 for ``nonsaturating``, ln 2 and -ln 2 for ``minimax``, 2 and 0
    for ``hinge``, 1/2 and 1/2 for ``least_squares``. The Wasserstein critic's
    scores have no scale (adding a constant changes nothing), so ``wgan`` has none.
    """
    if loss in UNSCALED:
        return None
    objective, zero = get_objective(loss), torch.zeros(1)  # one example, logit 0
    return float(objective.d_loss(zero, zero)), float(objective.g_loss(zero))


# Penalties on D, added to loss_D times ``train.penalty_weight``. Each takes D,
# the real and (detached) fake batches, a torch.Generator for any randomness
# and the batch's class labels (None for an unconditional D), and is summed
# over the batch like the losses.


def _input_grad(D: Callable, x: Tensor, labels: Tensor | None) -> Tensor:
    """d(sum D(x)) / dx per sample, kept in the graph: (B, ...)."""
    x = x.detach().requires_grad_(True)
    out = D(x) if labels is None else D(x, labels)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad


def gradient_penalty(D: Callable, real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                     labels: Tensor | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): sum_i (||grad D(x_hat_i)||_2 - 1)^2.

    x_hat_i = eps_i real_i + (1 - eps_i) fake_i with eps_i ~ U(0, 1), one per
    sample, drawn from ``generator``; the norm is taken per sample over all of
    its features.

    Args:
        D: the critic, (B, ...) -> (B, 1).
        real, fake: (B, ...) batches of the same shape.

    Returns:
        A scalar, the sum over the batch (multiply by lambda, e.g. 10).
    """
    # (B, 1, ...), drawn where the generator lives (the CPU), then moved to the batch
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator).to(real.device)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    norms = _input_grad(D, x_hat, labels).flatten(1).norm(dim=1)  # (B,)
    return (norms - 1).pow(2).sum()


def r1_penalty(D: Callable, real: Tensor, fake: Tensor | None = None, generator: torch.Generator | None = None,
               labels: Tensor | None = None) -> Tensor:
    """R1 (Mescheder et al. 2018): sum_i ||grad D(real_i)||^2 / 2.

    Penalises D's gradient on real data only (``fake`` and ``generator`` are
    unused); multiply by gamma.
    """
    grad = _input_grad(D, real, labels)
    return grad.flatten(1).pow(2).sum() / 2


PENALTIES: dict[str, Callable[..., Tensor]] = {"gp": gradient_penalty, "r1": r1_penalty}


__all__ = ["OBJECTIVES", "PENALTIES", "UNSCALED", "Objective", "get_objective", "equilibrium", "d_loss_bce",
           "g_loss_nonsaturating", "g_loss_minimax", "bce_real", "bce_fake",
           "d_loss_hinge", "g_loss_hinge", "d_loss_least_squares", "g_loss_least_squares",
           "d_loss_wasserstein", "g_loss_wasserstein", "gradient_penalty", "r1_penalty"]
