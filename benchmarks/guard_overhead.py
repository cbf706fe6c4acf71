"""What the reliability features cost the default loop: examples/sec, measured in one process.

Three variants of the chapter's default experiment (20 epochs of 1000 points,
batch 8), interleaved over several repeats, median examples/sec each:

- ``before``: the training loop as it was before checkpoints and guards
  (``src/gankit/training.py`` at commit b77164a, read from git);
- ``no check``: this loop with `gankit.engines.guard.check_step` replaced by a no-op;
- ``now``: this loop as shipped (a finite check and a stop check every step).

examples/sec counts the training steps only, as ``gankit train`` reports it;
checkpoint writing happens between epochs and is timed separately.

    python benchmarks/guard_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

from gankit import Config
from gankit import guard, training
from gankit.runs.checkpoint import Checkpoint

ROOT = Path(__file__).resolve().parent.parent


def old_train():
    source = subprocess.run(["git", "show", "b77164a:src/gankit/training.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    module = types.ModuleType("gankit_training_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "training_before.py", "exec"), module.__dict__)
    return module.train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    before = old_train()
    real_check = guard.check_step
    speeds: dict[str, list[float]] = {"before": [], "no check": [], "now": []}
    for _ in range(args.repeats):
        for name in speeds:
            config = Config()
            if name == "before":
                result = before(config)
            else:
                guard.check_step = (lambda *a: None) if name == "no check" else real_check
                result = training.train(config)
            speeds[name].append(result.examples_per_sec)
    guard.check_step = real_check
    base = statistics.median(speeds["before"])
    for name, values in speeds.items():
        med = statistics.median(values)
        print(f"{name:9s} median {med:8.0f} examples/sec  ({med / base:.3f} of before)  runs: "
              + " ".join(f"{v:.0f}" for v in values))
    # The per-step additions alone, timed directly (robust to a busy machine): the check, and
    # calling on_step_end on the default run's four callbacks.
    state = training.build_state(Config())
    state.sums.d, state.sums.g = torch.tensor(1.0), torch.tensor(2.0)
    loss = torch.tensor(0.5)
    calls = 200_000
    started = time.perf_counter()
    for _ in range(calls):
        real_check(state, loss, loss)
    check_us = (time.perf_counter() - started) / calls * 1e6
    hooks = [training.Callback() for _ in range(4)]
    started = time.perf_counter()
    for _ in range(calls):
        for cb in hooks:
            cb.on_step_end(state)
    hooks_us = (time.perf_counter() - started) / calls * 1e6
    step_us = 8 / statistics.median(speeds["before"]) * 1e6  # one batch of 8
    print(f"check_step {check_us:.2f} us + on_step_end x4 {hooks_us:.2f} us per step, "
          f"against a step of {step_us:.0f} us: {(check_us + hooks_us) / step_us:.2%}")
    # Checkpoint writing, outside the timed steps: one file per epoch.
    with tempfile.TemporaryDirectory() as tmp:
        state = training.build_state(Config())
        cb = Checkpoint(tmp, every=1)
        started = time.perf_counter()
        for _ in range(20):
            cb.save(state)
        print(f"checkpoint write (temp file, fsync, rename, directory fsync): "
              f"{(time.perf_counter() - started) / 20 * 1e3:.1f} ms each")


if __name__ == "__main__":
    main()
