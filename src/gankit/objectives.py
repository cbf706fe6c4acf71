"""GAN objectives as pure functions of the discriminator's logits.

Notation: o is a logit, D(x) = sigmoid(o) the probability that x is real.
We use log(sigmoid(o)) = -softplus(-o) and log(1 - sigmoid(o)) = -softplus(o),
which stay finite for any logit (never sigmoid followed by a log).

Every loss is *summed* over the batch, as the chapter does
(``BCEWithLogitsLoss(reduction="sum")``); divide by the batch size for a mean.
Each objective is a pair ``(d_loss(real_logits, fake_logits), g_loss(fake_logits))``;
both are minimised.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

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


class Objective(NamedTuple):
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]


OBJECTIVES: dict[str, Objective] = {
    "nonsaturating": Objective(d_loss_bce, g_loss_nonsaturating),
    "minimax": Objective(d_loss_bce, g_loss_minimax),
}


def get_objective(name: str) -> Objective:
    """Look up an objective by name (see `OBJECTIVES`)."""
    return OBJECTIVES[name]


__all__ = ["OBJECTIVES", "Objective", "get_objective", "d_loss_bce",
           "g_loss_nonsaturating", "g_loss_minimax", "bce_real", "bce_fake"]
