"""The general loop: eager autograd, any model, objective and penalty, torchrun.

Per batch of real examples x and noise z: one D step, then (after every
``n_critic``-th D step) one G step on the same z against the updated D, then
the moving average ``G_ema`` follows G. Written out in the open below; the
random stream is drawn as `gankit.engines.training` documents, so the fast
path draws the very same numbers.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch
from torch import nn

from gankit import streams
from gankit.config import Config
from gankit.engines.augment import Augmentation
from gankit.engines.device import DeviceData, autocast, compiled
from gankit.engines.guard import check_step
from gankit.engines.state import Callback, RunningSums, TrainState, end_epoch, lr_factor, steps_per_epoch
from gankit.models import device_of
from gankit.engines.objectives import PENALTIES, get_objective


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, decay: float, step: int) -> None:
    """G_ema <- d G_ema + (1 - d) G with d = min(decay, (1 + step) / (10 + step)).

    The warm-up makes early averages follow G closely. Buffers (batch-norm
    statistics) are copied from G.
    """
    d = min(decay, (1 + step) / (10 + step))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - d)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


RECALIBRATION_SAMPLES = 1024  # G's samples that re-estimate G_ema's batch-norm statistics after each epoch


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, latent_dim: int, rng: torch.Generator, n: int = RECALIBRATION_SAMPLES,
                          batch_size: int = 256, n_classes: int = 0) -> None:
    """Recompute G's batch-norm running statistics from ``n`` of its own samples.

    G's running statistics follow G's weights, not their moving average, so
    G_ema in eval mode would normalise with the wrong statistics. As SWA does
    (`torch.optim.swa_utils.update_bn`), they are reset and re-estimated as the
    plain average over ``n / batch_size`` batches of noise from ``rng`` (a
    named stream, never the training one). A no-op without batch norm.
    """
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = G.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    G.train()
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), latent_dim, generator=rng)
        labels = () if not n_classes else (torch.randint(n_classes, (len(z),), generator=rng),)
        device = device_of(G)
        G(z.to(device), *(y.to(device) for y in labels))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    G.train(was_training)


def run_epochs(config: Config, callbacks: Sequence[Callback], state: TrainState) -> None:
    """Train ``state`` to its last epoch, step by step (see the module docstring)."""
    t = config.train
    device = state.device
    G, D = state.ddp or (state.G, state.D)
    opt_G, opt_D = state.opt_G, state.opt_D
    objective = get_objective(t.loss)
    penalty = PENALTIES.get(t.penalty)  # None for "none"
    penalty_weight, n_critic = t.penalty_weight, t.n_critic
    real = DeviceData(state.dataset.train, device)  # (N, d) or (N, C, H, W), read batch by batch on the device
    labels = state.dataset.labels if config.model.conditional else None  # (N,) or None
    n, batch_size = state.dataset.train.shape[0], t.batch_size
    latent_dim = config.model.latent_dim
    global_batch = batch_size * state.world_size
    mine = slice(state.rank * batch_size, (state.rank + 1) * batch_size)  # this rank's rows of a global batch
    total_steps = t.epochs * steps_per_epoch(state)
    precision = autocast(device, t.precision)  # a no-op for "32"
    scale_d, scale_g = state.scalers.get("D"), state.scalers.get("G")  # float16 only
    if t.compile:
        z0 = torch.zeros(2, latent_dim, device=device)
        y0 = () if labels is None else (torch.zeros(2, dtype=torch.long, device=device),)
        G = compiled(G, (z0, *y0), "G")
        D = compiled(D, (real[torch.arange(2)], *y0), "D")
    loss_g = torch.zeros((), device=device)  # until the first G step
    augmentation = Augmentation(t.augment, t.seed)  # what D's inputs go through (identity for "none")

    while state.epoch < t.epochs:
        started = time.perf_counter()
        resume_from = None
        if state.batch == 0:
            state.epoch_rng_state = state.rng.get_state()
            state.sums = RunningSums()
        else:  # resuming mid-epoch: redraw this epoch's order and noise, skip the batches done
            resume_from = state.rng.get_state()  # where the stream stood (penalties draw from it per step)
            state.rng.set_state(state.epoch_rng_state)
        order = torch.randperm(n, generator=state.rng)
        z_epoch = torch.randn(n, latent_dim, generator=state.rng).to(device)  # (N, latent), drawn on the CPU
        if resume_from is not None:
            state.rng.set_state(resume_from)
        sums = state.sums.to(device)
        for start in range(state.batch * global_batch, n, global_batch):
            batch = order[start:start + global_batch][mine]  # this rank's rows of the global batch
            x = real[batch]  # (B, d) or (B, C, H, W)
            z = z_epoch[start:start + global_batch][mine]  # (B, latent)
            y = () if labels is None else (labels[batch].to(device),)  # a conditional network's (B,) labels

            if t.lr_schedule != "constant":  # both rates for this step (set before it, as the fast path does)
                factor = lr_factor(t.lr_schedule, t.lr_floor, state.step, total_steps)
                for opt in (opt_D, opt_G):
                    opt.param_groups[0]["lr"] = opt.param_groups[0]["initial_lr"] * factor

            # Discriminator step: real -> 1, fake -> 0; G is held fixed. D sees both augmented alike;
            # logits are float32 for the losses.
            augment = augmentation.for_step(state.step)
            with precision:
                fake = G(z, *y)  # (B, d) or (B, C, H, W)
                x_seen, fake_seen = augment(x), augment(fake.detach())
                real_logits, fake_logits = D(x_seen, *y), D(fake_seen, *y)
            loss_d = objective.d_loss(real_logits.float(), fake_logits.float())
            loss_d_total = loss_d
            if penalty is not None:
                with precision:
                    value = penalty(D, x_seen, fake_seen, state.rng, *y).float()
                loss_d_total = loss_d + penalty_weight * value
                sums.penalty += value.detach()
            _step(opt_D, loss_d_total, scale_d)
            sums.d += loss_d.detach()
            state.step += 1

            # Generator step (after every n_critic-th D step) on the same z against
            # the updated D. G has not changed since `fake` was computed, so its
            # graph is reused.
            if state.step % n_critic == 0:
                with precision:
                    fake_logits = D(augment(fake), *y)
                loss_g = objective.g_loss(fake_logits.float())
                _step(opt_G, loss_g, scale_g)
                if state.G_ema is not None:
                    update_ema(state.G_ema, state.G, t.ema, state.step // n_critic)
                sums.g += loss_g.detach()
                sums.g_seen += x.shape[0]

            state.batch += 1
            state.sums = sums
            check_step(state, loss_d, loss_g)  # non-finite -> Diverged; stop requested -> Interrupted
            for cb in callbacks:
                cb.on_step_end(state)
        if state.G_ema is not None:  # batch-norm statistics for the averaged weights
            m = config.model
            rng = streams.generator(t.seed, "ema.batchnorm", state.epoch)
            recalibrate_batchnorm(state.G_ema, latent_dim, rng, n_classes=m.n_classes if m.conditional else 0)
        total = sums.reduced()
        state.sums = sums
        end_epoch(state, time.perf_counter() - started, float(total.d), float(total.g), total.g_seen,
                  float(total.penalty) if penalty is not None else None)
        for cb in callbacks:
            cb.on_epoch_end(state)


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, scaler) -> None:
    """One optimiser step on ``loss``; through the gradient scaler where there is one (float16)."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
        return
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
