"""gankit's image loop against a plain PyTorch loop of the same networks, on each device at hand.

For each case (DCGAN on the 8x8 digits; DCGAN on 32x32 RGB images; on a GPU
also DCGAN at 64x64 with batch 128) and each device (the CPU; CUDA when
there is one), in this one process and alternating A/B over ``--repeats``
rounds: images/sec of

- a plain loop: the same networks, data, batch and Adam, BCE with logits
  summed, D step then G step with G(z) recomputed, float32;
- gankit's general loop (``gankit train``'s) at precision 32, and at bf16
  (reported: on the CPU bf16 is usually slower, there being no bf16 matrix units);

and the ratios gankit / plain (target >= 1.0 at precision 32) and gankit bf16 /
gankit 32 (target on a GPU >= 1.5). On a GPU also the peak memory, and the
chapter's 2-D experiment on the GPU next to the CPU's NumPy fast path (expected
slower: the networks have 43 parameters, so a GPU step is all launch overhead).

    python benchmarks/devices.py            # about 3 minutes on 2 CPU cores
    python benchmarks/devices.py --quick    # one round, fewer images
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gankit import Config, build_state, train
from gankit.presets import preset_config


def rgb_npz(folder: Path, n: int, side: int) -> str:
    """n images of coloured discs and squares on black, side x side, uint8 (N, H, W, 3)."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, side, side, 3), np.uint8)
    yy, xx = np.mgrid[:side, :side]
    for i in range(n):
        cx, cy, r = rng.uniform(side * 0.3, side * 0.7, 2).tolist() + [rng.uniform(side * 0.15, side * 0.3)]
        mask = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r) if i % 2 else ((abs(xx - cx) < r) & (abs(yy - cy) < r))
        images[i][mask] = rng.integers(0, 256, 3)
    path = folder / f"rgb{side}.npz"
    np.savez(path, images=images)
    return str(path)


def case_config(source: str, epochs: int, batch: int, device: str, precision: str = "32") -> Config:
    config = preset_config("dcgan")
    config.data.source = source
    config.train.epochs, config.train.batch_size = epochs, batch
    config.train.ema = 0.0  # the plain loop keeps no average
    config.train.device, config.train.precision = device, precision
    config.quality.n, config.quality.fd_sets = 64, 1  # the summary's scores are not timed, but keep them short
    return config.validate()


def plain_loop(config: Config) -> float:
    """The plain DCGAN loop on gankit's own networks and data, on the config's device; images/sec."""
    state = build_state(config)
    device = state.device
    G, D, opt_G, opt_D = state.G, state.D, state.opt_G, state.opt_D
    data = state.dataset.train.to(device)
    n, batch, latent = data.shape[0], config.train.batch_size, config.model.latent_dim
    seen, seconds = 0, 0.0
    for _ in range(config.train.epochs):
        _sync(device)
        started = time.perf_counter()
        order = torch.randperm(n, device=device)
        for start in range(0, n, batch):
            x = data[order[start:start + batch]]
            z = torch.randn(x.shape[0], latent, device=device)
            ones, zeros = torch.ones(x.shape[0], 1, device=device), torch.zeros(x.shape[0], 1, device=device)
            opt_D.zero_grad()
            loss_d = (F.binary_cross_entropy_with_logits(D(x), ones, reduction="sum")
                      + F.binary_cross_entropy_with_logits(D(G(z).detach()), zeros, reduction="sum")) / 2
            loss_d.backward()
            opt_D.step()
            opt_G.zero_grad()
            F.binary_cross_entropy_with_logits(D(G(z)), ones, reduction="sum").backward()
            opt_G.step()
            seen += x.shape[0]
        _sync(device)
        seconds += time.perf_counter() - started
    return seen / seconds


def ours(config: Config) -> tuple[float, float]:
    """gankit's training loop: (images/sec over the training steps, peak GPU memory in MiB or nan)."""
    cuda = config.train.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result = train(copy.deepcopy(config))
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
    return result.examples_per_sec, peak


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    folder = Path(tempfile.mkdtemp())
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cases = [("digits 8x8", "digits", 1, 32, ["cpu", "cuda"]),
             ("RGB 32x32", rgb_npz(folder, 160 if args.quick else 320, 32), 1, 32, ["cpu", "cuda"]),
             ("RGB 64x64, batch 128", rgb_npz(folder, 1024, 64), 2, 128, ["cuda"])]
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, "
          f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}; {repeats} round(s)")
    rows = []
    for name, source, epochs, batch, where in cases:
        for device in devices:
            if device not in where:
                continue
            plain, fp32, bf16, peak = [], [], [], float("nan")
            for _ in range(repeats):
                plain.append(plain_loop(case_config(source, epochs, batch, device)))
                speed, peak = ours(case_config(source, epochs, batch, device))
                fp32.append(speed)
                bf16.append(ours(case_config(source, epochs, batch, device, "bf16"))[0])
            ratio = statistics.median(a / b for a, b in zip(fp32, plain))
            amp = statistics.median(a / b for a, b in zip(bf16, fp32))
            rows.append((name, device, statistics.median(plain), statistics.median(fp32), ratio,
                         statistics.median(bf16), amp, peak))
    if torch.cuda.is_available():  # the chapter's 2-D experiment: GPU general loop vs the CPU fast path
        gpu = Config()
        gpu.train.device = "cuda"
        cpu = Config()
        rows.append(("chapter 2-D", "cuda (general loop)", float("nan"), train(gpu).examples_per_sec, float("nan"),
                     float("nan"), float("nan"), float("nan")))
        rows.append(("chapter 2-D", "cpu (fast path)", float("nan"), train(cpu).examples_per_sec, float("nan"),
                     float("nan"), float("nan"), float("nan")))
    head = ("case", "device", "plain img/s", "gankit fp32", "fp32/plain", "gankit bf16", "bf16/fp32", "peak MiB")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join([r[0], r[1]] + [("-" if v != v else f"{v:,.2f}" if abs(v) < 10 else f"{v:,.0f}")
                                                 for v in r[2:]]) + " |")


if __name__ == "__main__":
    main()
