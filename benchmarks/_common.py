"""Helpers shared by the benchmark scripts (never imported by gankit)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def machine_line() -> str:
    """CPU count and load average: the 2 cores are shared, so say how busy they were."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"[{os.cpu_count()} CPUs, load average {load}]"


def baseline_speeds(seed: int, epochs: int = 20) -> dict[str, float]:
    """The baseline's examples/sec with torch's default threads and with one thread.

    On a busy 2-core machine the chapter's loop with torch's default (2)
    intra-op threads can run ~10x slower than with one (spinning worker
    threads); we report both and compare gankit with the faster, so that a
    ratio is never inflated by the yardstick's bad luck.
    """
    import torch
    from baseline import train_baseline

    threads = torch.get_num_threads()
    speeds = {"baseline": train_baseline(seed, epochs=epochs)[3]}
    torch.set_num_threads(1)
    try:
        speeds["baseline 1 thread"] = train_baseline(seed, epochs=epochs)[3]
    finally:
        torch.set_num_threads(threads)
    return speeds
