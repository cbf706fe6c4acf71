"""Health warnings during training, each with a suggested fix, printed once and recorded.

`HealthMonitor` is a callback. After every epoch it checks:

- ``non_finite``: a loss is NaN or infinite;
- ``d_dominates``: D wins outright (its loss per example below ``d_floor``
  for an objective with a floor at 0, i.e. not ``wgan``) while G's loss has
  risen over the last ``window`` epochs;
- ``collapse`` (images): the diversity of G's samples from fixed noise
  (mean pairwise distance, relative to a batch of real images, recorded as
  ``diversity`` in the metrics) is below ``min_diversity`` or has fallen
  below half its best, checked after the first ``window`` epochs.

After training, `check_quality` adds ``class_coverage`` when some class gets
less than a quarter of its fair share of the generated samples.
"""

from __future__ import annotations

import math
import sys

import torch

from gankit import streams
from gankit.engines.state import Callback, TrainState

FIXES = {
    "non_finite": "lower the learning rates, or stabilise D with train.penalty=r1 or model.spectral_norm=true",
    "d_dominates": "lower train.lr_d (or raise train.lr_g), or add model.spectral_norm=true or train.penalty=r1",
    "collapse": "use train.ema, a hinge or wgan loss with a penalty (--preset hinge-sn / wgan-gp), "
                "or lower the learning rates",
    "class_coverage": "train longer, use --preset hinge-sn, or a conditional model (model.conditional=true)",
}


def diversity(x: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance between the (N, ...) samples."""
    flat = x.detach().flatten(1).double()
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1))) if n > 1 else 0.0


class HealthMonitor(Callback):
    """Warns (stderr, once per kind) and records warnings as dicts in ``self.warnings``."""

    def __init__(self, d_floor: float = 0.05, window: int = 3, min_diversity: float = 0.3, n: int = 64,
                 echo: bool = True):
        self.d_floor, self.window, self.min_diversity, self.n, self.echo = d_floor, window, min_diversity, n, echo
        self.warnings: list[dict] = []
        self.best_diversity = 0.0

    def warn(self, kind: str, epoch: int, message: str) -> None:
        if any(w["kind"] == kind for w in self.warnings):
            return
        self.warnings.append({"kind": kind, "epoch": epoch, "message": message, "fix": FIXES[kind]})
        if self.echo:
            print(f"gankit: warning: {message} (epoch {epoch}); try: {FIXES[kind]}", file=sys.stderr)

    def on_train_start(self, state: TrainState) -> None:
        self.images = len(state.dataset.shape) == 3
        if self.images:
            rng = streams.generator(state.config.train.seed, "health")
            self.z = torch.randn(self.n, state.config.model.latent_dim, generator=rng)
            real = state.dataset.train[torch.randperm(len(state.dataset.train), generator=rng)[:self.n]]
            self.real_diversity = diversity(real) or 1.0
            m = state.config.model
            self.labels = (torch.arange(self.n) % m.n_classes,) if m.conditional else ()

    @torch.no_grad()
    def on_epoch_end(self, state: TrainState) -> None:
        row, epoch = state.history[-1], state.epoch
        if not (math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"])):
            self.warn("non_finite", epoch, f"non-finite losses (loss_D {row['loss_d']}, loss_G {row['loss_g']})")
            return
        recent = [r["loss_g"] for r in state.history[-(self.window + 1):]]
        if (state.config.train.loss != "wgan" and row["loss_d"] < self.d_floor and len(recent) > self.window
                and all(b > a for a, b in zip(recent, recent[1:]))):
            self.warn("d_dominates", epoch, f"the discriminator dominates: loss_D {row['loss_d']:.3f} "
                      f"while loss_G rose for {self.window} epochs to {row['loss_g']:.3f}")
        if self.images:
            G = state.G_ema if state.G_ema is not None else state.G
            was_training = G.training
            G.eval()
            value = diversity(G(self.z, *self.labels)) / self.real_diversity
            G.train(was_training)
            row["diversity"] = value
            if epoch > self.window and (value < self.min_diversity or value < 0.5 * self.best_diversity):
                self.warn("collapse", epoch, f"samples are collapsing: diversity {value:.2f} of the real "
                          f"images' (best so far {self.best_diversity:.2f})")
            self.best_diversity = max(self.best_diversity, value)

    def check_quality(self, quality: dict, epoch: int) -> None:
        """Warn when a class gets under a quarter of its share of the generated samples."""
        fractions = quality.get("class_fractions")
        if fractions:
            fair = 1.0 / len(fractions)
            missing = [i for i, f in enumerate(fractions) if f < fair / 4]
            if missing:
                self.warn("class_coverage", epoch, f"classes {missing} get under {100 * fair / 4:.1f}% "
                          "of the generated samples")


__all__ = ["FIXES", "HealthMonitor", "diversity"]
