"""Image training speed and time-to-quality on the 8x8 digits.

1. ``speed``: images/sec of gankit's training loop against a plain PyTorch
   DCGAN loop (DataLoader, BCE-with-logits summed, D step then G step with G(z)
   recomputed, as the chapter writes it) with the very same networks, batch,
   optimisers and data, in this one process, alternating A/B over ``--repeats``
   rounds. Prints both speeds per round and the median ratio gankit / plain
   (the issue's target: >= 0.95). gankit runs without the moving average here
   (the plain loop has none); a second gankit figure with ``train.ema`` on
   shows what the average costs.
2. ``fd``: trains the dcgan preset and, every ``--every`` epochs, measures the
   feature-space FD of G_ema against the held-out digits; prints the training
   seconds (the clock of `gankit.engines.training.train`, evaluation excluded) at
   which FD first falls to ``--target`` times the real-halves FD.

    python benchmarks/images.py speed [--epochs 3] [--repeats 3]
    python benchmarks/images.py fd [--target 2] [--epochs 100] [--every 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from gankit import build_state, train
from gankit.presets import preset_config
from gankit.engines.state import Callback


def digits_config(epochs: int, ema: float = 0.0):
    config = preset_config("dcgan")
    config.data.source = "digits"
    config.train.epochs = epochs
    config.train.ema = ema
    return config.validate()


def plain_loop(config, epochs: int) -> float:
    """The plain DCGAN loop on gankit's own networks and data; returns images/sec."""
    state = build_state(config)  # same networks, init, optimiser settings and training split
    G, D, opt_G, opt_D = state.G, state.D, state.opt_G, state.opt_D
    loader = DataLoader(TensorDataset(state.dataset.train), batch_size=config.train.batch_size, shuffle=True)
    latent = config.model.latent_dim
    seen, seconds = 0, 0.0
    for _ in range(epochs):
        started = time.perf_counter()
        for (x,) in loader:
            z = torch.randn(x.shape[0], latent)
            opt_D.zero_grad()
            loss_d = (F.binary_cross_entropy_with_logits(D(x), torch.ones(x.shape[0], 1), reduction="sum")
                      + F.binary_cross_entropy_with_logits(D(G(z).detach()), torch.zeros(x.shape[0], 1),
                                                           reduction="sum")) / 2
            loss_d.backward()
            opt_D.step()
            opt_G.zero_grad()
            loss_g = F.binary_cross_entropy_with_logits(D(G(z)), torch.ones(x.shape[0], 1), reduction="sum")
            loss_g.backward()
            opt_G.step()
            seen += x.shape[0]
        seconds += time.perf_counter() - started
    return seen / seconds


def speed(epochs: int, repeats: int) -> None:
    print(f"digits, dcgan preset networks, batch {digits_config(1).train.batch_size}, {epochs} epochs per "
          f"measurement, torch threads {torch.get_num_threads()}")
    ratios, plain_all, ours_all, ema_all = [], [], [], []
    for r in range(repeats):
        plain = plain_loop(digits_config(epochs), epochs)
        ours = train(digits_config(epochs)).examples_per_sec
        ours_ema = train(digits_config(epochs, ema=0.99)).examples_per_sec
        ratios.append(ours / plain)
        plain_all.append(plain)
        ours_all.append(ours)
        ema_all.append(ours_ema)
        print(f"round {r + 1}: plain {plain:7.0f} img/s, gankit {ours:7.0f} img/s (ratio {ours / plain:.3f}), "
              f"gankit+ema {ours_ema:7.0f} img/s")
    print(f"median: plain {statistics.median(plain_all):.0f}, gankit {statistics.median(ours_all):.0f}, "
          f"gankit+ema {statistics.median(ema_all):.0f} img/s; ratio gankit/plain {statistics.median(ratios):.3f}")


class FDProbe(Callback):
    """Every ``every`` epochs: FD of G_ema to the held-out digits in the classifier's features."""

    def __init__(self, every: int, target_ratio: float):
        self.every, self.target_ratio = every, target_ratio
        self.reached: tuple[int, float, float] | None = None

    def on_train_start(self, state) -> None:
        from gankit.metrics.features import extract, load_or_train_classifier
        from gankit.metrics.images import feature_fd

        ds = state.dataset
        self.classifier, _ = load_or_train_classifier(ds.train, ds.labels)
        self.f_ref = extract(self.classifier, ds.heldout)[0]
        self.halves = feature_fd(extract(self.classifier, ds.train)[0], self.f_ref)
        print(f"real halves FD {self.halves:.3f}; target {self.target_ratio} x = {self.target_ratio * self.halves:.3f}")

    def on_epoch_end(self, state) -> None:
        if state.epoch % self.every or self.reached:
            return
        from gankit.metrics.features import extract
        from gankit.metrics.images import feature_fd, generate

        G = state.G_ema if state.G_ema is not None else state.G
        fake = generate(G, len(self.f_ref), state.config.model.latent_dim, seed=state.config.train.seed)
        fd = feature_fd(extract(self.classifier, fake)[0], self.f_ref)
        print(f"epoch {state.epoch:4d}  train {state.train_seconds:6.1f} s  FD {fd:.3f} "
              f"(ratio {fd / self.halves:.2f})")
        if fd <= self.target_ratio * self.halves:
            self.reached = (state.epoch, state.train_seconds, fd)


def time_to_fd(target: float, epochs: int, every: int) -> None:
    probe = FDProbe(every, target)
    train(digits_config(epochs, ema=preset_config("dcgan").train.ema), [probe])
    if probe.reached:
        epoch, seconds, fd = probe.reached
        print(f"reached FD {fd:.3f} (<= {target} x real halves) at epoch {epoch} after {seconds:.1f} s of training")
    else:
        print(f"FD did not reach {target} x real halves within {epochs} epochs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--repeats", type=int, default=3)
    f = sub.add_parser("fd")
    f.add_argument("--target", type=float, default=2.0)
    f.add_argument("--epochs", type=int, default=150)
    f.add_argument("--every", type=int, default=5)
    args = parser.parse_args()
    if args.what == "speed":
        speed(args.epochs, args.repeats)
    else:
        time_to_fd(args.target, args.epochs, args.every)


if __name__ == "__main__":
    main()
