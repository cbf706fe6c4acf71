"""SIGKILL at a random moment, then --resume: the final weights equal an uninterrupted run's bitwise.

The default run does one trial; ``pytest -m slow tests/test_resume_kill.py`` does ten.
"""

import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from gankit.runs.checkpoint import list_checkpoints
from gankit.cli import main
from gankit.config import load_config
from gankit.runs.experiment import run_experiment

pytestmark = pytest.mark.repro
ARGS = ["--n", "200", "--epochs", "15", "--no-plots", "--quiet"]  # 25 batches an epoch, 375 steps


def _reference(tmp_path_factory, engine: str = "auto"):
    """The uninterrupted run, and how long it took (the window in which kills land)."""
    config = load_config(None, ["data.n=200", "train.epochs=15", f"train.engine={engine}"])
    started = time.monotonic()
    run_dir = run_experiment(config, out=tmp_path_factory.mktemp("ref") / "run", plots=False, progress=False).run_dir
    return run_dir, time.monotonic() - started


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _reference(tmp_path_factory)


def _weights(run_dir):
    return {f"{role}/{k}": v for role in ("generator", "discriminator")
            for k, v in load_file(run_dir / f"{role}.safetensors").items()}


def kill_and_resume(run, rng: random.Random, window: float, engine: str = "auto") -> dict:
    """Start a run, SIGKILL it at a random moment of its training, resume it in this process."""
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "train", *ARGS, "--engine", engine, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list_checkpoints(run) and time.monotonic() < deadline:  # training has started
        time.sleep(0.005)
    started = time.monotonic()
    time.sleep(rng.uniform(0.0, window))  # anywhere from the first step to the last file
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = time.monotonic() - started
    if proc.returncode == 0 or (run / "summary.json").exists():  # finished before the kill: not a trial
        return {"killed": False}
    assert proc.returncode == -signal.SIGKILL
    last = list_checkpoints(run)[-1].name if list_checkpoints(run) else None
    assert main(["train", "--resume", str(run), "--no-plots", "--quiet"]) == 0
    return {"killed": True, "after_s": round(killed_after, 3), "resumed_from": last}


def _check(tmp_path, reference, n, seed, capsys, engine="auto"):
    rng = random.Random(seed)
    reference, seconds = reference
    expected = _weights(reference)
    outcomes = []
    while len(outcomes) < n:
        run = tmp_path / f"run{len(outcomes)}"
        outcome = kill_and_resume(run, rng, seconds, engine)
        if not outcome["killed"]:
            import shutil

            shutil.rmtree(run)
            continue
        got = _weights(run)
        outcome["bitwise_equal"] = got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got)
        # ...and the files are the same bytes, so a user's sha256sum agrees too
        outcome["same_bytes"] = all((run / f).read_bytes() == (reference / f).read_bytes()
                                    for f in ("generator.safetensors", "discriminator.safetensors"))
        outcomes.append(outcome)
    with capsys.disabled():
        print("\nkill/resume trials:", *outcomes, sep="\n  ")
    assert all(o["bitwise_equal"] and o["same_bytes"] for o in outcomes), outcomes


def test_sigkill_then_resume_is_bitwise_identical(tmp_path, reference, capsys):
    _check(tmp_path, reference, 1, seed=None, capsys=capsys)


@pytest.mark.slow
def test_sigkill_then_resume_ten_trials(tmp_path, reference, capsys):
    _check(tmp_path, reference, 10, seed=2026, capsys=capsys)


@pytest.mark.slow
def test_sigkill_then_resume_ten_trials_general_loop(tmp_path_factory, tmp_path, capsys):
    """The same on the general loop, whose kills land mid-epoch (the fast path checkpoints at epoch ends)."""
    _check(tmp_path, _reference(tmp_path_factory, "general"), 10, seed=7, capsys=capsys, engine="general")
