"""A two-sample p-value while the lab trains, computed off the hot path.

Every few epochs the training thread hands over a sample of G's points (a
forward pass: the weights are read where they are consistent) with a sample
of real points it never trained on: fresh draws from a named target, or the
held-out split of a file. A thread of its own runs `gankit.metrics.twosample.mmd_test`
on them (Gaussian kernel, median-heuristic width, a few permutations) and keeps
the latest result. Noise, real draws and permutations come from the evaluation
streams of the run's seed, indexed by the epoch (`gankit.streams`), never from
the training stream.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gankit import streams
from gankit.data import Dataset
from gankit.metrics.twosample import MIN_ROWS, mmd_test


@dataclass
class PValue:
    """The latest test: at which epoch, its MMD^2 and p-value, and on how many points per side."""

    epoch: int
    statistic: float
    p_value: float
    n: int


class LiveTest:
    """MMD tests of G against unseen real points, at most one at a time, in a daemon thread.

    Args:
        dataset: the problem's data (its target, or its held-out split).
        seed: the run's seed (for the evaluation streams).
        latent_dim: G's noise dimension.
        n: points per side.
        permutations: B of the permutation p-value (p >= 1 / (B + 1)).
        every: epochs between tests.
        min_seconds: and at least this long between tests.
    """

    def __init__(self, dataset: Dataset, seed: int, latent_dim: int, n: int = 256, permutations: int = 99,
                 every: int = 5, min_seconds: float = 0.5):
        self.dataset, self.seed, self.latent_dim = dataset, seed, latent_dim
        self.n, self.permutations, self.every, self.min_seconds = n, permutations, every, min_seconds
        self.latest: PValue | None = None
        heldout = dataset.heldout
        self.reason = None if dataset.target is not None or (heldout is not None and len(heldout) >= MIN_ROWS) \
            else f"needs at least {MIN_ROWS} held-out points"
        self._last_epoch, self._last_time = 0, 0.0
        self._busy = threading.Event()
        self._closed = False

    def due(self, epoch: int) -> bool:
        """Whether a test should start now (enough epochs and time since the last, none running)."""
        return (self.reason is None and not self._closed and not self._busy.is_set()
                and epoch >= self._last_epoch + self.every and time.monotonic() >= self._last_time + self.min_seconds)

    @torch.no_grad()
    def start(self, G: nn.Module, epoch: int) -> None:
        """Sample G now (the caller's weights), then test in the background."""
        self._busy.set()
        self._last_epoch, self._last_time = epoch, time.monotonic()
        real = self._real(epoch)
        z = torch.randn(len(real), self.latent_dim, generator=streams.generator(self.seed, "lab.fake", epoch))
        was_training = G.training
        G.eval()
        fake = G(z).detach().clone()  # (n, d)
        G.train(was_training)
        threading.Thread(target=self._test, args=(real, fake, epoch), daemon=True, name="gankit-lab-test").start()

    def close(self) -> None:
        self._closed = True

    def _real(self, epoch: int) -> Tensor:
        if self.dataset.target is not None:
            return self.dataset.target.sample(self.n, streams.numpy_generator(self.seed, "lab.real", epoch))
        heldout = self.dataset.heldout
        pick = torch.randperm(len(heldout), generator=streams.generator(self.seed, "lab.real", epoch))
        return heldout[pick[:self.n]]

    def _test(self, real: Tensor, fake: Tensor, epoch: int) -> None:
        try:
            if torch.isfinite(fake).all():
                result = mmd_test(real, fake, permutations=self.permutations,
                                  generator=streams.generator(self.seed, "lab.tests", epoch))
                if not self._closed:
                    self.latest = PValue(epoch, result.statistic, result.p_value, len(real))
        finally:
            self._busy.clear()


__all__ = ["LiveTest", "PValue"]
