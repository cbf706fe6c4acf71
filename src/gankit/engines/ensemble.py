"""The chapter's training step for small MLPs, by hand, for R runs at once.

On networks of a few dozen weights the cost of a step is dispatch, not
arithmetic: eager autograd spends about a millisecond per step on bookkeeping.
Here the forward pass, the backward pass (derived by hand for affine layers and
tanh / relu / leaky-relu) and Adam are written as a few dozen NumPy calls on
arrays with a leading "runs" axis R. One run is R = 1 (the fast path of
``gankit train``); a sweep stacks hundreds of runs in the same calls.

Semantics are exactly those of `gankit.engines.general`: per batch of real
points x and noise z,

- D step: loss_D = (sum softplus(-D(x)) + sum softplus(D(G(z)))) / 2, one Adam step on D;
- G step: loss_G = sum softplus(-D(G(z))) (non-saturating) or -sum softplus(D(G(z)))
  (minimax), same z, the updated D, one Adam step on G;

Adam as ``torch.optim.Adam`` computes it (bias-corrected, eps added after the
square root), in float32. Parameters of each network live in one flat (R, P)
array; each layer's weight and bias are views into it, so Adam is a handful of
whole-array operations.

Shapes: R runs, B examples in a batch, d data dimension, k latent dimension.

This module is NumPy alone: copying ``nn.Module`` weights and torch Adam state
in and out is `gankit.engines.bridge`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit  # the logistic sigmoid, stable for any logit

from gankit.engines.state import SUM_DTYPE
from gankit.models.mlp import LEAKY_SLOPE

_SLOPE = np.float32(LEAKY_SLOPE)


def _tanh(a: np.ndarray) -> None:
    np.tanh(a, out=a)


def _relu(a: np.ndarray) -> None:
    np.maximum(a, 0.0, out=a)


def _leaky_relu(a: np.ndarray) -> None:
    np.multiply(a, np.where(a > 0, np.float32(1.0), _SLOPE), out=a)


# Activations written out by hand: name -> (in-place forward on pre-activations,
# d output / d pre-activation from the output h). The fast path takes exactly these.
ACTIVATIONS = {
    "tanh": (_tanh, lambda h: 1.0 - h * h),  # tanh' = 1 - tanh^2
    "relu": (_relu, lambda h: h > 0),
    "leaky_relu": (_leaky_relu, lambda h: np.where(h > 0, np.float32(1.0), _SLOPE)),
}

# Generator losses with hand-derived gradients, as functions of the fakes' logits o (D's loss
# is always the chapter's BCE): name -> (per-example loss, d loss / d o). The fast path takes
# exactly these objectives; tests/test_ensemble.py holds them against gankit.engines.objectives.
G_LOSSES = {
    "nonsaturating": (lambda o: np.logaddexp(0.0, -o), lambda p_real: p_real - 1.0),  # softplus(-o)
    "minimax": (lambda o: -np.logaddexp(0.0, o), lambda p_real: -p_real),  # -softplus(o)
}


class FlatMLP:
    """An MLP (affine layers with an activation between them) over R runs.

    Parameters are one (R, P) float32 array ``theta``; layer l's weight is a
    view (R, in_l, out_l) (the transpose of ``nn.Linear.weight``, so that
    ``h @ W`` is the layer) and its bias a view (R, 1, out_l).

    Args:
        widths: [in, hidden..., out].
        activation: one of `ACTIVATIONS`, between hidden layers.
        runs: R.
    """

    def __init__(self, widths: list[int], activation: str, runs: int):
        self.widths, self.activation, self.runs = list(widths), activation, runs
        shapes = list(zip(widths[:-1], widths[1:]))
        self.size = sum(i * o + o for i, o in shapes)
        self.theta = np.zeros((runs, self.size), np.float32)  # (R, P)
        self.grad = np.zeros((runs, self.size), np.float32)  # (R, P)
        self.W, self.b, self.gW, self.gb = self.views(self.theta) + self.views(self.grad)
        self.WT = [w.transpose(0, 2, 1) for w in self.W]  # (R, out, in) views, for backward
        self._ones = np.ones((1, 1, 0), np.float32)  # grown by `backward` to the batch size

    def views(self, flat: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per-layer weight (R, in, out) and bias (R, 1, out) views of a flat (R, P) array."""
        weights, biases, offset = [], [], 0
        for i, o in zip(self.widths[:-1], self.widths[1:]):
            weights.append(flat[:, offset:offset + i * o].reshape(self.runs, i, o))
            offset += i * o
            biases.append(flat[:, offset:offset + o].reshape(self.runs, 1, o))
            offset += o
        assert all(np.shares_memory(v, flat) for v in weights + biases)  # views, never copies
        return weights, biases

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for input x (R, M, in); the last is the network's (R, M, out)."""
        outputs = [x]
        last = len(self.W) - 1
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            a = np.matmul(outputs[-1], W)  # (R, M, out_l)
            a += b
            if l < last:
                ACTIVATIONS[self.activation][0](a)
            outputs.append(a)
        return outputs

    def backward(self, outputs: list[np.ndarray], delta: np.ndarray, param_grads: bool,
                 input_grad: bool = False) -> np.ndarray | None:
        """Backpropagate d loss / d output ``delta`` (R, M, out) through a `forward`.

        Args:
            outputs: what `forward` returned.
            param_grads: write d loss / d theta into ``self.grad``.
            input_grad: return d loss / d input (R, M, in).
        """
        if self._ones.shape[2] < delta.shape[1]:
            self._ones = np.ones((1, 1, delta.shape[1]), np.float32)
        for l in range(len(self.W) - 1, -1, -1):
            if param_grads:
                np.matmul(outputs[l].transpose(0, 2, 1), delta, out=self.gW[l])  # (R, in_l, out_l)
                # Bias gradient: the sum over the batch, as (1, 1, M) ones @ delta; for small
                # trailing axes this is ~10x faster than np.sum(axis=1) at R = 1024.
                np.matmul(self._ones[:, :, :delta.shape[1]], delta, out=self.gb[l])  # (R, 1, out_l)
            if l == 0 and not input_grad:
                return None
            grad_in = np.matmul(delta, self.WT[l])  # (R, M, in_l)
            delta = grad_in * ACTIVATIONS[self.activation][1](outputs[l]) if l > 0 else grad_in
        return delta


class Adam:
    """``torch.optim.Adam`` (no weight decay, no amsgrad) over flat (R, P) parameters.

    Learning rates and betas are per run, shape (R,). ``step`` counts the
    steps already taken (as the ``"step"`` in torch's optimiser state).
    """

    def __init__(self, theta: np.ndarray, grad: np.ndarray, lr, beta1, beta2, eps: float = 1e-8):
        self.theta, self.grad = theta, grad
        runs = theta.shape[0]
        self.lr, self.beta1, self.beta2 = (np.broadcast_to(np.asarray(v, np.float64), (runs,)).copy()
                                           for v in (lr, beta1, beta2))
        self.eps = np.float32(eps)
        self.m = np.zeros_like(theta)  # exp_avg, (R, P)
        self.v = np.zeros_like(theta)  # exp_avg_sq, (R, P)
        self.step_count = 0
        self._one_minus_b1 = (1.0 - self.beta1).astype(np.float32)[:, None]  # (R, 1)
        self._b2 = self.beta2.astype(np.float32)[:, None]
        self._one_minus_b2 = (1.0 - self.beta2).astype(np.float32)[:, None]
        self._tmp = np.empty_like(theta)

    def schedule(self, steps: int, factors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bias corrections of the next ``steps`` steps, computed in float64 as torch does.

        Args:
            factors: (steps,) multipliers of the learning rate at each step (a schedule), or None.

        Returns:
            step_size lr / (1 - beta1^t) and sqrt(1 - beta2^t), each (steps, R, 1) float32.
        """
        t = np.arange(self.step_count + 1, self.step_count + steps + 1, dtype=np.float64)[:, None]
        lr = self.lr if factors is None else self.lr * np.asarray(factors, np.float64)[:, None]  # (R,) or (steps, R)
        step_size = lr / (1.0 - self.beta1 ** t)  # (steps, R)
        bc2_sqrt = np.sqrt(1.0 - self.beta2 ** t)
        return step_size.astype(np.float32)[..., None], bc2_sqrt.astype(np.float32)[..., None]

    def update(self, step_size: np.ndarray, bc2_sqrt: np.ndarray) -> None:
        """One step from ``self.grad``; step_size and bc2_sqrt (R, 1) from `schedule`."""
        m, v, g, tmp = self.m, self.v, self.grad, self._tmp
        np.subtract(g, m, out=tmp)  # exp_avg.lerp_(grad, 1 - beta1)
        tmp *= self._one_minus_b1
        m += tmp
        v *= self._b2  # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        np.multiply(g, g, out=tmp)
        tmp *= self._one_minus_b2
        v += tmp
        np.sqrt(v, out=tmp)  # denom = sqrt(exp_avg_sq) / sqrt(bias_correction2) + eps
        tmp /= bc2_sqrt
        tmp += self.eps
        np.divide(m, tmp, out=tmp)  # param -= lr / bias_correction1 * exp_avg / denom
        tmp *= step_size
        self.theta -= tmp
        self.step_count += 1


@dataclass
class EpochLosses:
    """One epoch's losses per run.

    Attributes:
        loss_d, loss_g: summed over the epoch, (R,) float64 (divide by n for the per-example figures).
        step_d, step_g: each step's summed loss, (R, S) in `SUM_DTYPE`, as the general loop adds them up.
        g_seen: examples seen by G steps (the epoch's n, or fewer with n_critic > 1).
    """

    loss_d: np.ndarray
    loss_g: np.ndarray
    step_d: np.ndarray
    step_g: np.ndarray
    g_seen: int


class Ensemble:
    """R GANs (same architecture, own data, weights and hyperparameters) trained in lockstep.

    Args:
        g_widths, d_widths: layer widths of G ([k, ..., d]) and D ([d, ..., 1]).
        g_activation, d_activation: activations between hidden layers.
        g_loss: ``"nonsaturating"`` or ``"minimax"``.
        adam_g, adam_d: each network's Adam settings ``{"lr": ..., "beta1": ..., "beta2": ...}``,
            each a scalar or one value per run (R,).
        runs: R.
        ema: decay of a moving average of G's weights (``G_ema``), or 0 for none; it
            follows G after every G step with the general loop's warm-up.
        n_critic: D steps per G step.
    """

    def __init__(self, g_widths, d_widths, g_activation, d_activation, g_loss, adam_g: dict, adam_d: dict,
                 runs: int, ema: float = 0.0, n_critic: int = 1):
        if g_loss not in G_LOSSES:
            raise ValueError(f"no hand-derived gradient for the '{g_loss}' objective")
        self.G = FlatMLP(g_widths, g_activation, runs)
        self.D = FlatMLP(d_widths, d_activation, runs)
        self.G_ema = FlatMLP(g_widths, g_activation, runs) if ema > 0 else None
        self.opt_G = Adam(self.G.theta, self.G.grad, **adam_g)
        self.opt_D = Adam(self.D.theta, self.D.grad, **adam_d)
        self.g_loss, self.ema, self.n_critic = g_loss, ema, n_critic
        self.runs = runs

    def _follow(self) -> None:
        """G_ema <- lerp(G_ema, G, 1 - d), d = min(ema, (1 + k) / (10 + k)) after the k-th G step.

        torch's ``lerp_`` formula, in float32, so the average matches the general loop's.
        """
        k = self.opt_G.step_count
        w = np.float32(1.0 - min(self.ema, (1 + k) / (10 + k)))
        ema, theta = self.G_ema.theta, self.G.theta
        if w < 0.5:
            ema += w * (theta - ema)
        else:
            ema[:] = theta - (theta - ema) * (np.float32(1.0) - w)

    def generator_gaussians(self, noise: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Each run's generator (G_ema where kept) as a Gaussian, in the data's units.

        Exact for an affine generator (one layer: N(b, W^T W)); otherwise the fit of
        G applied to ``noise`` (M, k), the same rows for every run.

        Returns:
            means (R, d) and covariances (R, d, d), float64.
        """
        G = self.G_ema if self.G_ema is not None else self.G
        if len(G.W) == 1:
            W, b = G.W[0].astype(np.float64), G.b[0][:, 0].astype(np.float64)  # (R, k, d), (R, d)
            return b * scale, np.matmul(W.transpose(0, 2, 1), W) * scale ** 2
        x = G.forward(np.broadcast_to(noise, (self.runs, *noise.shape)))[-1].astype(np.float64) * scale  # (R, M, d)
        mean = x.mean(axis=1)
        centred = x - mean[:, None]
        return mean, np.matmul(centred.transpose(0, 2, 1), centred) / (x.shape[1] - 1)

    def finite(self) -> bool:
        """Whether every weight of every run is finite."""
        return bool(np.isfinite(self.G.theta).all() and np.isfinite(self.D.theta).all())

    def epoch(self, real: np.ndarray, z: np.ndarray, batch_size: int,
              lr_factors: np.ndarray | None = None) -> EpochLosses:
        """One pass over the data, batch by batch, as the chapter does.

        Args:
            real: (R, n, d) each run's training points, already in this epoch's order.
            z: (R, n, k) each run's noise for this epoch, one row per example.
            batch_size: B; a last partial batch is used as it is.
            lr_factors: (S,) the learning rates' multiplier at each of the epoch's S steps, or None.

        Returns:
            The per-run losses (`EpochLosses`).
        """
        n = real.shape[1]
        starts = range(0, n, batch_size)
        # A G step follows every n_critic-th D step (counted over the run), on that batch's z.
        with_g = np.array([(self.opt_D.step_count + i + 1) % self.n_critic == 0 for i in range(len(starts))])
        d_sizes, d_bc2 = self.opt_D.schedule(len(starts), lr_factors)  # (steps, R, 1) each
        g_sizes, g_bc2 = self.opt_G.schedule(int(with_g.sum()), None if lr_factors is None else lr_factors[with_g])
        # Labels of the stacked [real; fake] batch: 1 for real rows, 0 for fake.
        labels = np.concatenate([np.ones(batch_size, np.float32), np.zeros(batch_size, np.float32)])
        d_signed, g_logits = [], []  # per step, for the epoch's losses
        g_step = 0
        for i, start in enumerate(starts):
            x = real[:, start:start + batch_size]  # (R, B, d)
            zb = z[:, start:start + batch_size]  # (R, B, k)
            b = x.shape[1]
            y = labels[batch_size - b:batch_size + b, None]  # (2b, 1): b ones, b zeros

            # Discriminator step: real -> 1, fake -> 0, on [x; G(z)] stacked. G is held fixed.
            g_out = self.G.forward(zb)
            fake = g_out[-1]  # (R, B, d)
            d_out = self.D.forward(np.concatenate([x, fake], axis=1))
            logits = d_out[-1]  # (R, 2B, 1)
            # loss_D = sum (softplus(o) - y o) / 2, so d loss_D / d o = (sigmoid(o) - y) / 2.
            self.D.backward(d_out, (expit(logits) - y) * np.float32(0.5), param_grads=True)
            self.opt_D.update(d_sizes[i], d_bc2[i])
            d_signed.append(logits * (1.0 - 2.0 * y))  # softplus of this sums to 2 loss_D

            if not with_g[i]:
                continue
            # Generator step: same z, the updated D; gradient flows through D into G.
            d_out = self.D.forward(fake)
            logits = d_out[-1]  # (R, B, 1)
            p_real = expit(logits)
            d_logits = G_LOSSES[self.g_loss][1](p_real)  # d loss_G / d o, (R, B, 1)
            d_fake = self.D.backward(d_out, d_logits, param_grads=False, input_grad=True)  # (R, B, d)
            self.G.backward(g_out, d_fake, param_grads=True)
            self.opt_G.update(g_sizes[g_step], g_bc2[g_step])
            g_step += 1
            if self.G_ema is not None:
                self._follow()
            g_logits.append(logits)

        d_each = np.logaddexp(0.0, np.concatenate(d_signed, axis=1))  # (R, 2n, 1): 2 loss_D per pair
        offsets = np.arange(0, n, batch_size)
        dtype = np.dtype(SUM_DTYPE)
        # Each step's losses in the losses' own precision, for the divergence rule; 0 for G where it did not step.
        step_d = np.add.reduceat(d_each[..., 0], 2 * offsets, axis=1, dtype=dtype) / dtype.type(2)  # (R, S)
        step_g = np.zeros_like(step_d)
        sizes = np.diff(np.append(offsets, n))  # (S,) each batch's size
        loss_g, g_seen = np.zeros(self.runs), int(sizes[with_g].sum())
        if g_logits:
            g_each = G_LOSSES[self.g_loss][0](np.concatenate(g_logits, axis=1))  # (R, examples seen by G, 1)
            g_offsets = np.concatenate([[0], np.cumsum(sizes[with_g])[:-1]])
            step_g[:, with_g] = np.add.reduceat(g_each[..., 0], g_offsets, axis=1, dtype=dtype)
            loss_g = g_each.sum(axis=(1, 2), dtype=np.float64)
        return EpochLosses(d_each.sum(axis=(1, 2), dtype=np.float64) / 2, loss_g, step_d, step_g, g_seen)


__all__ = ["ACTIVATIONS", "G_LOSSES", "Adam", "Ensemble", "EpochLosses", "FlatMLP"]
