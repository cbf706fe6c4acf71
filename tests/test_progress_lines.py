"""In a log (stderr not a terminal) gankit train prints one line per epoch: losses, images/sec, time left."""

import re

from gankit.cli import main
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
