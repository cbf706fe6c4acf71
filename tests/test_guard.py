import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gankit.runs.checkpoint import list_checkpoints, load_checkpoint
from gankit.cli import main
from gankit.engines.guard import EXIT_DIVERGED, Diverged, all_finite
from gankit.engines.training import build_state, train


def test_divergence_stops_at_the_first_non_finite_step(tiny_config):
    tiny_config.train.lr_d = tiny_config.train.lr_g = 1e37
    steps = []

    class Watch:
        def on_train_start(self, state): ...
        def on_epoch_end(self, state): ...
        def on_train_end(self, state): ...

        def on_step_end(self, state):
            steps.append((state.step, state.sums.d.item(), state.sums.g.item()))

    with pytest.raises(Diverged, match=r"training diverged at epoch 1, step \d+ .*learning rate too high") as info:
        train(tiny_config, [Watch()])
    bad = info.value.step
    assert bad > 1 and f"step {bad} " in str(info.value)
    # Every step before it was finite; the callbacks never saw the bad step.
    assert [s for s, *_ in steps] == list(range(1, bad)) and all(math.isfinite(v) for _, *vs in steps for v in vs)


def test_diverged_cli_exit_3_names_step_and_keeps_last_good_checkpoint(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    code = main(["train", "--n", "64", "--epochs", "3", "--lr-d", "1e37", "--lr-g", "1e37", "--engine", "general",
                 "--out", str(run)])
    err = capsys.readouterr().err
    assert code == EXIT_DIVERGED == 3
    assert err.count("\n") == 1 and "diverged at epoch 1, step 8 " in err and "learning rate too high" in err and "Traceback" not in err
    (last,) = list_checkpoints(run)
    assert f"last good checkpoint: {last}" in err
    tiny_config.train.lr_d = tiny_config.train.lr_g = 1e37
    tiny_config.train.epochs = 3
    state = build_state(tiny_config)
    load_checkpoint(last, state)
    assert state.step == 0 and all_finite(state.G) and all_finite(state.D)
    assert not (run / "summary.json").exists()


def test_lr_backoff_is_off_by_default_and_reported_when_on(tmp_path, capsys):
    args = ["train", "--n", "64", "--epochs", "2", "--lr-d", "1e37", "--lr-g", "1e37", "--no-plots", "--engine", "general"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 3
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "b"), "--set", "train.lr_backoff=1e-36"]) == 0
    out, err = capsys.readouterr()
    assert "backing off: lr_d 10, lr_g 10, from step 0 (1/3)" in err
    assert "learning rates backed off after divergence at step 8: lr_d 10, lr_g 10" in out
    import json

    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert [e["diverged_at_step"] for e in summary["lr_backoffs"]] == [8]
    assert math.isfinite(summary["loss_d"])


def _gankit(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "gankit", "train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow  # a fresh interpreter costs seconds; the in-process test below covers the default run
def test_sigint_to_a_real_process_stops_cleanly_with_a_resumable_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = _gankit("--n", "1000", "--epochs", "200", "--no-plots", "--quiet", "--out", str(run))
    deadline = time.monotonic() + 60
    while len(list_checkpoints(run)) < 2 and time.monotonic() < deadline:  # the start and epoch 1 are saved
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    _assert_resumable(run, err)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_in_process_stops_cleanly_and_restores_handlers(tmp_path, capsys, sig, code):
    import threading

    run = tmp_path / "run"

    def kill_when_training():
        deadline = time.monotonic() + 60
        while not list_checkpoints(run) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), sig)

    before = signal.getsignal(sig)
    threading.Thread(target=kill_when_training, daemon=True).start()
    assert main(["train", "--n", "1000", "--epochs", "200", "--no-plots", "--quiet", "--out", str(run)]) == code
    assert signal.getsignal(sig) is before
    _assert_resumable(run, capsys.readouterr().err)


def _assert_resumable(run, err):
    assert "Traceback" not in err and f"resume with: gankit train --resume {run}" in err
    last = list_checkpoints(run)[-1]
    assert f"checkpoint {last}" in err
    from gankit.config import Config

    config = Config.from_dict(__import__("json").loads((run / "config.json").read_text()))
    meta = load_checkpoint(last, build_state(config))  # loads into a fresh state of the run's config
    assert 0 < meta["step"] < 200 * 125 and not (run / "summary.json").exists()


def test_fast_path_hands_a_non_finite_epoch_to_the_general_loop(tiny_config):
    """The fast path checks once per epoch; the general loop then redoes the epoch and names the step."""
    from gankit.engines.guard import Diverged
    from gankit.engines.state import Callback
    from gankit.engines.training import train

    class Poison(Callback):
        def on_train_start(self, state):
            with torch.no_grad():
                state.D[0].weight[0, 0] = float("inf")

    state = build_state(tiny_config)
    # An infinite weight saturates tanh (step 1 stays finite); its gradient turns D to NaN at step 2.
    with pytest.raises(Diverged, match=r"diverged at epoch 1, step 2 "):
        train(tiny_config, [Poison()], state=state)
    assert state.epoch == 0 and state.step == 2  # the general loop took over at the epoch's start
