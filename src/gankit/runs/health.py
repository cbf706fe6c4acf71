"""Health warnings during training, each with suggested fixes, printed once and recorded.

A warning suggests only fixes the run does not use already (`fix_for`: no
``model.conditional=true`` for a conditional run, no ``train.ema`` when it is on).

`HealthMonitor` is a callback. After every epoch it checks:

- ``non_finite``: a loss is NaN or infinite;
- ``d_dominates``: D wins outright (its loss per example below ``d_floor``
  for an objective with a floor at 0, i.e. not ``wgan``) while G's loss has
  risen over the last ``window`` epochs;
- ``collapse`` (images): the diversity of G's samples from fixed noise
  (mean pairwise distance, relative to a batch of real images, recorded as
  ``diversity`` in the metrics) is below ``min_diversity`` or has fallen
  below half its best, checked after the first ``window`` epochs.

- ``loss_far``: a loss per example is far from the objective's equilibrium
  value (its value when D outputs 1/2 everywhere, e.g. ln 2): beyond
  `LOSS_LIMIT` times it (at least 1), which no sane run reaches (not ``wgan``,
  whose losses have no scale);
- ``exploding``: a parameter of G or D, or the root-mean-square gradient that
  Adam keeps (its second moment), beyond `PARAM_LIMIT`.

After training, `check_summary` adds ``class_coverage`` when some class gets
less than a quarter of its fair share of the generated samples (images; classes
by name), ``label_ignored`` when a conditional generator's samples are the class
they were drawn for less often than halfway between chance and the classifier's
accuracy on real held-out images, else ``label_weak_class`` when some class's
samples are right clearly less often than its real images (`weak_label_classes`:
10 points or more, and a z-test at 1% over the classes); against what real
images reach, ``low_recall`` when recall is under half the real halves'
(`RECALL_SHARE`; as many training images in G's place), ``class_shares_far``
when the generated class shares are a total variation of `SHARES_GAP` or more
from the held-out images' own, ``weak_features`` when the feature classifier
is right on fewer than `WEAK_FEATURES` of real held-out images, and
``fd_few_images`` when a set has fewer images than features; and
``fooled_far`` when D is fooled (loss_D within 0.05 of its equilibrium) while
the generator's Gaussian is far from the truth (Fréchet distance above a tenth
of the truth's total variance, a unit-free scale).
"""

from __future__ import annotations

import math
import sys
from typing import Callable

import torch

from gankit import streams
from gankit.engines.state import Callback, TrainState
from gankit.models import device_of
from gankit.engines.objectives import equilibrium

LOSS_LIMIT = 50.0  # times the equilibrium loss per example
TINY_IMAGES = 500  # an image data set with fewer training images gets a warning before training
PARAM_LIMIT = 1e4  # |parameter| or RMS gradient; the chapter's stay below 10

# kind -> suggested fixes, each with a test of (config, images) that says when it does not apply
# (already on, or not for this data), so a warning never suggests what the run already does.
_ON_SN = lambda c, images: c.model.spectral_norm  # noqa: E731
_ON_PENALTY = lambda c, images: c.train.penalty != "none"  # noqa: E731
_AUGMENT = ("add --augment diffaug", lambda c, images: not images or c.train.augment != "none")
SUGGESTIONS: dict[str, list[tuple[str, Callable | None]]] = {
    "loss_far": [("lower the learning rates (train.lr_d, train.lr_g)", None)],
    "exploding": [("lower the learning rates", None), ("add model.spectral_norm=true", _ON_SN),
                  ("add train.penalty=r1", _ON_PENALTY)],
    "fooled_far": [("the discriminator is too weak to tell: widen it (--discriminator mlp)",
                    lambda c, images: images or c.model.discriminator == "mlp"),
                   ("train longer, or check the data", None)],
    "non_finite": [("lower the learning rates", None), ("stabilise D with train.penalty=r1", _ON_PENALTY),
                   ("add model.spectral_norm=true", _ON_SN)],
    "d_dominates": [("lower train.lr_d (or raise train.lr_g)", None), ("add model.spectral_norm=true", _ON_SN),
                    ("add train.penalty=r1", _ON_PENALTY), _AUGMENT],
    "collapse": [("use train.ema", lambda c, images: c.train.ema > 0),
                 ("a hinge or wgan loss with a penalty (--preset hinge-sn / wgan-gp)",
                  lambda c, images: c.train.loss in ("hinge", "wgan") and (c.model.spectral_norm
                                                                          or c.train.penalty != "none")),
                 _AUGMENT, ("lower the learning rates", None)],
    "class_coverage": [("train longer", None),
                       ("use --preset hinge-sn", lambda c, images: c.train.loss == "hinge" and c.model.spectral_norm),
                       ("a conditional model (model.conditional=true)", lambda c, images: c.model.conditional),
                       _AUGMENT],
    "label_weak_class": [("train longer", None),
                         ("a conditional ResNet (--model resnet)", lambda c, images: c.model.generator == "resnet"),
                         ("check that those classes' images (sub-folders) are what they are named", None)],
    "low_recall": [("train longer", None), _AUGMENT,
                   ("use --preset hinge-sn", lambda c, images: c.train.loss == "hinge" and c.model.spectral_norm)],
    "class_shares_far": [("train longer", None),
                         ("a conditional model (model.conditional=true)", lambda c, images: c.model.conditional)],
    "weak_features": [("use more training images", None),
                      ("score in a feature network of your own (evaluate_run(run, features=net))", None)],
    "fd_few_images": [("raise quality.n (gankit eval --n) to the feature dimension or more", None)],
    "tiny_data": [("use more images (a thousand or more)", None), _AUGMENT],
    "label_ignored": [("train longer", None),
                      ("conditional batch norm in G and a projection D (--model resnet)",
                       lambda c, images: c.model.generator == "resnet"),
                      ("check that the classes (sub-folders) really differ", None)],
}


def fix_for(kind: str, config=None, images: bool = True) -> str:
    """The suggested fixes for warning ``kind`` that do not apply already (all of them without a config)."""
    fixes = [text for text, applies in SUGGESTIONS[kind] if config is None or applies is None
             or not applies(config, images)]
    return ", or ".join(fixes)


FIXES = {kind: fix_for(kind) for kind in SUGGESTIONS}  # every suggestion, whatever the run


def class_names(indices: list[int], classes: list[str]) -> str:
    """``'cat', 'dog'``: classes by name (by index where the names are not known)."""
    return ", ".join(repr(classes[i]) if i < len(classes) else str(i) for i in indices)


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
        self.loss, self.equilibrium = "nonsaturating", equilibrium("nonsaturating")  # set from the run's config
        self.config, self.images, self.classes = None, True, []  # the run's, once it starts

    def warn(self, kind: str, epoch: int, message: str) -> None:
        if any(w["kind"] == kind for w in self.warnings):
            return
        fix = fix_for(kind, self.config, self.images)
        self.warnings.append({"kind": kind, "epoch": epoch, "message": message, "fix": fix})
        if self.echo:
            print(f"gankit: warning: {message} (epoch {epoch}); try: {fix}", file=sys.stderr)

    def on_train_start(self, state: TrainState) -> None:
        self.config, self.classes = state.config, list(state.dataset.classes)
        self.images = len(state.dataset.shape) == 3
        n = len(state.dataset.train)
        if self.images and n < TINY_IMAGES:
            self.warn("tiny_data", state.epoch, f"only {n} training images: on so few a GAN tends to memorise or "
                      "collapse, its samples blur or repeat, and its scores have wide spreads")
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
        self.loss = state.config.train.loss
        self.equilibrium = equilibrium(self.loss)  # None for wgan, whose losses have no scale
        if self.equilibrium is not None:
            for name, value, eq in (("loss_D", row["loss_d"], self.equilibrium[0]),
                                    ("loss_G", row["loss_g"], self.equilibrium[1])):
                if abs(value) > LOSS_LIMIT * max(1.0, abs(eq)):
                    self.warn("loss_far", epoch, f"{name} is {value:.4g} per example, far from the "
                              f"objective's equilibrium {eq:.3f}")
        largest = max_parameter_and_gradient(state)
        if largest[0] > PARAM_LIMIT or largest[1] > PARAM_LIMIT:
            self.warn("exploding", epoch, f"parameters or gradients are exploding (max |w| {largest[0]:.3g}, "
                      f"max RMS gradient {largest[1]:.3g})")
        recent = [r["loss_g"] for r in state.history[-(self.window + 1):]]
        if (state.config.train.loss != "wgan" and row["loss_d"] < self.d_floor and len(recent) > self.window
                and all(b > a for a, b in zip(recent, recent[1:]))):
            self.warn("d_dominates", epoch, f"the discriminator dominates: loss_D {row['loss_d']:.3f} "
                      f"while loss_G rose for {self.window} epochs to {row['loss_g']:.3f}")
        if self.images:
            G = state.G_ema if state.G_ema is not None else state.G
            was_training = G.training
            G.eval()
            device = device_of(G)
            value = diversity(G(self.z.to(device), *(y.to(device) for y in self.labels)).cpu()) / self.real_diversity
            G.train(was_training)
            row["diversity"] = value
            if epoch > self.window and (value < self.min_diversity or value < 0.5 * self.best_diversity):
                self.warn("collapse", epoch, f"samples are collapsing: diversity {value:.2f} of the real "
                          f"images' (best so far {self.best_diversity:.2f})")
            self.best_diversity = max(self.best_diversity, value)

    def check_summary(self, summary: dict, epoch: int) -> None:
        """The checks that need the finished run's summary (see the module docstring)."""
        if "quality" in summary:
            self.check_quality(summary["quality"], epoch)
        fd, true_cov = summary.get("fd_to_truth"), summary.get("true_cov")
        loss_d = summary.get("loss_d")
        if fd is None or true_cov is None or loss_d is None or self.equilibrium is None:
            return
        scale = sum(true_cov[i][i] for i in range(len(true_cov)))  # the truth's total variance
        eq = self.equilibrium[0]
        if abs(loss_d - eq) < 0.05 and fd > 0.1 * scale:
            self.warn("fooled_far", epoch, f"D is fooled (loss_D {loss_d:.3f}, equilibrium {eq:.3f}) but the "
                      f"generator is far from the truth (FD {fd:.3g}, the truth's variance {scale:.3g})")

    def check_quality(self, quality: dict, epoch: int) -> None:
        """Warn when a class gets under a quarter of its share of the generated samples, and when
        a conditional generator's label changes little (``label_accuracy``, see `gankit.metrics.images`)."""
        if quality.get("fd_warning"):
            self.warn("fd_few_images", epoch, quality["fd_warning"])
        self._check_yardsticks(quality, epoch)
        classes = quality.get("classes") or self.classes
        fractions = quality.get("class_fractions")
        if fractions:
            fair = 1.0 / len(fractions)
            missing = [i for i, f in enumerate(fractions) if f < fair / 4]
            if missing:
                several = len(missing) > 1
                self.warn("class_coverage", epoch, f"{'classes' if several else 'class'} {class_names(missing, classes)} "
                          f"{'get' if several else 'gets'} under {100 * fair / 4:.1f}% of the generated samples")
        accuracy, real = quality.get("label_accuracy"), quality.get("classifier_accuracy")
        if accuracy is not None and real is not None:
            chance = 1.0 / len(quality["label_accuracy_by_class"])
            if accuracy < (chance + real) / 2:
                by_class = quality["label_accuracy_by_class"]
                worst = sorted(range(len(by_class)), key=lambda i: by_class[i])[:3]
                self.warn("label_ignored", epoch, f"the label changes little of what G draws: a classifier of real "
                          f"images finds {100 * accuracy:.0f}% of the samples to be the class they were drawn for "
                          f"(chance {100 * chance:.0f}%, real held-out images {100 * real:.0f}%; worst: "
                          + ", ".join(f"{class_names([i], classes)} {100 * by_class[i]:.0f}%" for i in worst) + ")")
                return
        weak = weak_label_classes(quality)
        if weak:
            shown = ", ".join(f"{class_names([c], classes)} {100 * fake:.0f}% against {100 * real:.0f}% (z = {z:.1f})"
                              for c, fake, real, z in weak[:3])
            self.warn("label_weak_class", epoch, f"the label works less well for {'some classes' if len(weak) > 1 else 'a class'} "
                      f"than the classifier does on real images: of the images drawn for each, the share that is "
                      f"that class, against the share of its real held-out images the classifier gets right: {shown}")


    def _check_yardsticks(self, quality: dict, epoch: int) -> None:
        """Scores far from what real images reach: recall, class shares, and the feature space itself."""
        classes = quality.get("classes") or self.classes
        recall, real_recall = quality.get("recall"), quality.get("recall_real_halves")
        if is_score(recall) and is_score(real_recall) and recall < RECALL_SHARE * real_recall:
            self.warn("low_recall", epoch, f"recall {recall:.2f} against {real_recall:.2f} for as many real images: "
                      f"G covers less than {RECALL_SHARE:.0%} of what real images of the same number cover, so it "
                      "misses much of the data (whole modes or their variety)")
        shares, real = quality.get("class_fractions"), quality.get("reference_class_fractions")
        if shares and real and len(shares) == len(real):
            gap = 0.5 * sum(abs(f - r) for f, r in zip(shares, real))
            if gap >= SHARES_GAP:
                worst = sorted(range(len(shares)), key=lambda i: -abs(shares[i] - real[i]))[:3]
                self.warn("class_shares_far", epoch, f"the generated class shares are {100 * gap:.0f}% away from the "
                          "real ones (total variation): " + ", ".join(
                              f"{class_names([i], classes)} {100 * shares[i]:.0f}% against {100 * real[i]:.0f}%"
                              for i in worst)
                          + (f"; {quality['n_class_shares_real_halves']} real images are "
                             f"{100 * quality['class_shares_tv_real_halves']:.0f}% away"
                             if is_score(quality.get("class_shares_tv_real_halves")) else ""))
        accuracy = quality.get("classifier_accuracy")
        if is_score(accuracy) and shares and accuracy < WEAK_FEATURES:
            self.warn("weak_features", epoch, f"the feature classifier is right on only {100 * accuracy:.0f}% of real "
                      f"held-out images (chance {100 / len(shares):.0f}%): a feature space this weak says little, so "
                      "FD, KID, precision and recall in it are rough")


def is_score(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Health's yardsticks: recall below this share of the real halves' recall; class shares this far (total
# variation) from the held-out images' own; a feature classifier right on fewer real held-out images.
RECALL_SHARE = 0.5
SHARES_GAP = 0.2
WEAK_FEATURES = 0.8

# A class's label check fires when its samples are right at least this much less often than its real
# images are, and a one-sided two-proportion z-test says so at this level (Bonferroni over the classes).
LABEL_MARGIN = 0.10
LABEL_LEVEL = 0.01


def weak_label_classes(quality: dict) -> list[tuple[int, float, float, float]]:
    """The classes whose generated images are their class clearly less often than their real images are.

    Compares, per class, ``label_accuracy_by_class`` (of about ``n_label_accuracy`` / K images drawn
    for it) with ``classifier_accuracy_by_class`` (of its share ``reference_class_fractions`` of
    ``n_reference`` real held-out images): a class is weak when it is `LABEL_MARGIN` or more below and a
    one-sided two-proportion z-test rejects at `LABEL_LEVEL` / K.

    Returns:
        (class, generated share right, real share right, z), worst first; [] when the counts are absent.
    """
    from scipy.stats import norm

    fake, real = quality.get("label_accuracy_by_class"), quality.get("classifier_accuracy_by_class")
    shares, n_real, n_fake = quality.get("reference_class_fractions"), quality.get("n_reference"), \
        quality.get("n_label_accuracy")
    if not (fake and real and shares and n_real and n_fake) or not len(fake) == len(real) == len(shares):
        return []
    k = len(fake)
    critical = float(norm.isf(LABEL_LEVEL / k))
    weak = []
    for c in range(k):
        m, r = n_fake // k + (c < n_fake % k), round(shares[c] * n_real)  # drawn for class c, its real images
        if m == 0 or r == 0 or fake[c] > real[c] - LABEL_MARGIN:
            continue
        pooled = (fake[c] * m + real[c] * r) / (m + r)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / m + 1 / r))
        z = (real[c] - fake[c]) / spread if spread > 0 else math.inf
        if z > critical:
            weak.append((c, fake[c], real[c], z))
    return sorted(weak, key=lambda w: w[1] - w[2])


@torch.no_grad()
def max_parameter_and_gradient(state: TrainState) -> tuple[float, float]:
    """The largest |parameter| of G and D, and the largest RMS gradient Adam tracks (sqrt of exp_avg_sq)."""
    params = [p for net in (state.G, state.D) for p in net.parameters()]
    largest = max((float(p.abs().max()) for p in params if p.numel()), default=0.0)
    rms = 0.0
    for opt in (state.opt_G, state.opt_D):
        for s in opt.state.values():
            if "exp_avg_sq" in s and s["exp_avg_sq"].numel():
                rms = max(rms, float(s["exp_avg_sq"].max().sqrt()))
    return largest, rms


__all__ = ["FIXES", "SUGGESTIONS", "TINY_IMAGES", "fix_for", "class_names", "weak_label_classes", "LOSS_LIMIT", "PARAM_LIMIT", "HealthMonitor",
           "diversity", "max_parameter_and_gradient"]
