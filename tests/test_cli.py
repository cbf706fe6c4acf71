import json
import subprocess
import sys

import numpy as np
from PIL import Image

from gankit.cli import main

TINY = ["--n", "64", "--epochs", "2"]


def test_train_writes_every_file_and_ends_with_the_chapter_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("loss_D ") and lines[-1].endswith(" examples/sec")
    summary = json.loads((out / "summary.json").read_text())
    assert lines[-1].startswith(f"loss_D {summary['loss_d']:.3f}, loss_G {summary['loss_g']:.3f}, ")
    with Image.open(out / "samples.png") as im:
        assert im.size[0] > 200
    with Image.open(out / "losses.png") as im:
        assert im.format == "PNG"
    with Image.open(out / "training.gif") as im:
        assert im.format == "GIF" and im.n_frames == 2


def test_sample_command(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", *TINY, "--out", str(out), "--no-plots", "--quiet"])
    capsys.readouterr()
    assert main(["sample", str(out), "-n", "5", "--seed", "2", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (5, 2)
    assert main(["sample", str(out), "-n", "3"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == "x1,x2" and len(printed) == 4


def _bad_inputs(tmp_path):
    (tmp_path / "text.csv").write_text("1,2\n3,oops\n")
    (tmp_path / "nan.csv").write_text("1,2\nnan,2\n")
    (tmp_path / "inf.csv").write_text("1,2\n1,-inf\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "unknown.json").write_text('{"train": {"momentum": 0.9}}')
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "keep.txt").write_text("not ours")  # an empty directory would be taken
    return [
        (["--data", str(tmp_path / "missing.csv")], "data file not found"),
        (["--data", str(tmp_path / "text.csv")], "non-numeric value 'oops' at row 2, column 2"),
        (["--data", str(tmp_path / "nan.csv")], "non-finite value nan"),
        (["--data", str(tmp_path / "inf.csv")], "non-finite value -inf"),
        (["--data", str(tmp_path / "empty.csv")], "file is empty"),
        (["--lr-d", "-0.1"], "train.lr_d must be a positive number"),
        (["--loss", "hinged"], "unknown loss 'hinged'"),
        (["--generator", "big"], "unknown generator 'big'"),
        (["--config", str(tmp_path / "unknown.json")], "unknown config key 'train.momentum'"),
        (["--set", "train.momentum=1"], "unknown config key 'train.momentum'"),
        (["--out", str(tmp_path / "exists")], "already exists (run directory)"),
    ]


def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, capsys):
    for args, message in _bad_inputs(tmp_path):
        runs = tmp_path / "runs"
        code = main(["train", *TINY, "--runs", str(runs), *args])
        err = capsys.readouterr().err
        assert code == 2, args
        assert err.count("\n") == 1 and message in err and err.startswith("gankit: error: "), err
        assert "Traceback" not in err
        assert not runs.exists() or not any(runs.iterdir()), args
    assert [p.name for p in (tmp_path / "exists").iterdir()] == ["keep.txt"]


def test_bad_run_for_sample(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "none")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    assert main(["sample", str(tmp_path), "-n", "0"]) == 2


def test_real_process_exit_status(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gankit", "train", "--lr-g", "nan", "--runs", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gankit: error: train.lr_g must be a positive number, got nan"
    assert not any(tmp_path.iterdir())


def test_same_seed_same_summary_other_seed_differs(tmp_path, capsys):
    def summary(name, *extra):
        main(["train", *TINY, "--out", str(tmp_path / name), "--no-plots", "--quiet", *extra])
        s = json.loads((tmp_path / name / "summary.json").read_text())
        for timing in ("examples_per_sec", "train_seconds"):
            s.pop(timing)
        return s

    a, b, c = summary("a"), summary("b"), summary("c", "--seed", "1")
    assert a == b
    assert a["fd_to_truth"] != c["fd_to_truth"] and a["loss_d"] != c["loss_d"]
