import json
import sys

import pytest

from gankit.cli import main
from gankit.errors import UserError

pytest.importorskip("tensorboard")


def _events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_tensorboard_logs_losses_metrics_and_images(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--n", "64", "--epochs", "3", "--out", str(out), "--no-plots", "--quiet",
                 "--tensorboard"]) == 0
    events = _events(out / "tensorboard")
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    loss_d = events.Scalars("loss/D")
    assert [e.step for e in loss_d] == [1, 2, 3]
    assert [e.value for e in loss_d] == pytest.approx([r["loss_d"] for r in history], rel=1e-6)
    assert [e.value for e in events.Scalars("loss/G")] == pytest.approx([r["loss_g"] for r in history], rel=1e-6)
    fd = events.Scalars("metrics/fd_to_truth")
    assert fd[-1].value == pytest.approx(summary["fd_to_truth"], rel=1e-5)
    assert fd[0].value != pytest.approx(fd[-1].value, rel=1e-3)  # it tracks training
    assert len(events.Scalars("speed/examples_per_sec")) == 3
    images = events.Images("samples")
    assert [e.step for e in images] == [3]  # every 5 epochs, and the last
    assert images[0].width > 200 and images[0].height > 200


def test_missing_extra_is_a_clear_error_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    from gankit.viz.tensorboard import require_tensorboard

    with pytest.raises(UserError, match=r"pip install 'gankit\[tensorboard\]'"):
        require_tensorboard()
    assert main(["train", "--n", "64", "--epochs", "1", "--out", str(tmp_path / "run"), "--tensorboard"]) == 2
    assert "needs the tensorboard extra" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
