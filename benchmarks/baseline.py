"""The yardstick: the textbook chapter's training loop, written plainly.

Per batch: a DataLoader over the 1000 points, eager autograd, two Adam
optimisers, BCE-with-logits summed over the batch; D step then G step
(G's output recomputed), exactly as the chapter's PyTorch code does. Used only
to measure gankit against; gankit never imports it.

Run alone: ``python benchmarks/baseline.py [--seed S]`` prints the chapter's line.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

A = torch.tensor([[1.0, 2.0], [-0.1, 0.5]])
B = torch.tensor([1.0, 2.0])


def chapter_data(n: int = 1000) -> torch.Tensor:
    return torch.normal(0.0, 1.0, (n, 2)) @ A + B


def train_baseline(seed: int = 0, epochs: int = 20, batch_size: int = 8, lr_d: float = 0.05,
                   lr_g: float = 0.005, latent_dim: int = 2):
    """Train the chapter's GAN with global-RNG seeding; returns (G, D, data, examples/sec, history)."""
    torch.manual_seed(seed)
    data = chapter_data()
    loader = DataLoader(TensorDataset(data), batch_size=batch_size, shuffle=True)
    net_G = nn.Sequential(nn.Linear(latent_dim, 2))
    net_D = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 1))
    for net in (net_G, net_D):
        for w in net.parameters():
            nn.init.normal_(w, 0, 0.02)
    loss = nn.BCEWithLogitsLoss(reduction="sum")
    trainer_D = torch.optim.Adam(net_D.parameters(), lr=lr_d)
    trainer_G = torch.optim.Adam(net_G.parameters(), lr=lr_g)
    history = []
    seconds = 0.0
    for epoch in range(epochs):
        started = time.perf_counter()
        total_d = total_g = 0.0
        count = 0
        for (X,) in loader:
            n = X.shape[0]
            Z = torch.normal(0, 1, size=(n, latent_dim))
            ones, zeros = torch.ones((n, 1)), torch.zeros((n, 1))
            # Discriminator step.
            trainer_D.zero_grad()
            real_Y = net_D(X)
            fake_Y = net_D(net_G(Z).detach())
            loss_D = (loss(real_Y, ones) + loss(fake_Y, zeros)) / 2
            loss_D.backward()
            trainer_D.step()
            # Generator step, same Z, updated D.
            trainer_G.zero_grad()
            loss_G = loss(net_D(net_G(Z)), ones)
            loss_G.backward()
            trainer_G.step()
            total_d += float(loss_D.detach())
            total_g += float(loss_G.detach())
            count += n
        seconds += time.perf_counter() - started
        history.append((total_d / count, total_g / count))
    return net_G, net_D, data, epochs * len(data) / seconds, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _, _, _, speed, history = train_baseline(args.seed)
    print(f"loss_D {history[-1][0]:.3f}, loss_G {history[-1][1]:.3f}, {speed:.1f} examples/sec")


if __name__ == "__main__":
    main()
