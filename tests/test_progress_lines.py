"""In a log (stderr not a terminal) gankit train prints one line per epoch: losses, images/sec, time left."""

import re

from gankit.cli import main
from imagefixtures import write_image_folder
from gankit.runs.callbacks import epoch_line

TINY = ["--n", "64", "--epochs", "3", "--no-plots"]


def test_epoch_line_reads_the_row():
    history = [{"epoch": 1, "loss_d": 0.7, "loss_g": 0.9, "seconds": 2.0},
               {"epoch": 2, "loss_d": 0.6512, "loss_g": 0.8431, "seconds": 2.5}]
    line = epoch_line(history, 60, 1000, 3725.0)
    assert line == "epoch 2/60  loss_D 0.651  loss_G 0.843  2,000 img/s  ~1:02:05 left"
    assert epoch_line(history[:1], 3, 10, 61).endswith("5 img/s  ~1:01 left")


def test_a_log_gets_a_line_per_epoch_and_quiet_or_no_progress_none(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()
    lines = [e for e in err if e.startswith("epoch ")]
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3  loss_D ")
    # a point run counts points, not images (issue 22 item 17)
    assert all(re.search(r"  [\d,]+ points/s  ~\d+:\d\d left$", e) for e in lines) and lines[-1].endswith("~0:00 left")
    for flag in ("--quiet", "--no-progress"):
        assert main(["train", *TINY, "--out", str(tmp_path / flag.strip("-")), flag]) == 0
        assert not [e for e in capsys.readouterr().err.splitlines() if e.startswith("epoch ")]


def test_an_image_run_says_how_long_it_will_take_before_training_and_the_probe_changes_nothing(tmp_path, capsys):
    """A line before the first epoch (issue 22 item 11), from a probe on copies of G and D: the weights
    are those of a run that printed nothing."""
    root = write_image_folder(tmp_path / "imgs", n=24)
    small = ["--data", f"folder:{root}", "--model", "dcgan", "--set", "model.g_width=8", "--set", "model.d_width=8",
             "--set", "quality.kid_subsets=2", "--epochs", "2", "--batch-size", "8", "--no-plots"]
    assert main(["train", *small, "--out", str(tmp_path / "told")]) == 0
    err = capsys.readouterr().err.splitlines()
    expected = [e for e in err if e.startswith("gankit: about ")]
    assert len(expected) == 1 and re.fullmatch(
        r"gankit: about \d+ s to train \(2 epochs of 12 images at ~[\d,]+ img/s, measured here\)", expected[0])
    assert err.index(expected[0]) < min(i for i, e in enumerate(err) if e.startswith("epoch "))
    assert any("only 12 training images" in e and "try: use more images" in e for e in err)  # tiny: a warning
    assert main(["train", *small, "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    assert not [e for e in capsys.readouterr().err.splitlines() if e.startswith("gankit: about ")]
    for name in ("generator.safetensors", "discriminator.safetensors", "generator_ema.safetensors"):
        assert (tmp_path / "told" / name).read_bytes() == (tmp_path / "quiet" / name).read_bytes(), name


def test_time_left_leaves_the_first_epochs_warm_up_out(monkeypatch, capsys):
    """First epoch 20 s (warm-up), then 1 s each: after epoch 2 of 10, 8 epochs left are about 8 s, not 80."""
    from types import SimpleNamespace

    import torch

    from gankit import Config
    from gankit.runs import callbacks

    clock = iter([20.0, 21.0, 22.0])  # the ends of epochs 1, 2 and 3
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    config = Config()
    config.train.epochs = 10
    state = SimpleNamespace(config=config, epoch=0, history=[],
                            dataset=SimpleNamespace(train=torch.zeros(100, 2), shape=(2,)))
    progress = callbacks.Progress("lines")
    progress.on_train_start(state)
    lefts = []
    for epoch, seconds in ((1, 19.5), (2, 20.4), (3, 21.3)):
        state.epoch = epoch
        state.history.append({"epoch": epoch, "loss_d": 0.7, "loss_g": 0.7, "seconds": seconds})
        progress.on_epoch_end(state)
        lefts.append(capsys.readouterr().err.strip().rsplit("~", 1)[1])
    assert lefts == ["2:56 left", "0:08 left", "0:07 left"]  # 19.5 s x 9; then 1 s x 8; 1 s x 7


def test_a_slow_cpu_run_is_told_what_narrower_networks_would_take(tmp_path):
    from test_training_images import tiny_image_config

    from gankit import build_state
    from gankit.runs.callbacks import expected_line

    config = tiny_image_config(f"folder:{write_image_folder(tmp_path / 'imgs', n=24)}")
    config.model.g_width = config.model.d_width = 16
    config.train.epochs = 60
    state = build_state(config)
    slow = expected_line(state, per_image=1.0)  # as if an image took a second: 12 minutes to train
    match = re.search(r"about 12 min to train .*; on this CPU --set model.g_width=8 --set model.d_width=8 "
                      r"would train ([\d.]+)x faster$", slow)
    assert match and float(match.group(1)) > 1, slow
    assert "would train" not in expected_line(state, per_image=1e-6)  # a second or so: nothing to say
