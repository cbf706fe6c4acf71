"""The chapter notebook runs top to bottom, so it never rots."""

import json
import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "gan_chapter.ipynb"


def _tagged(nb, tag):
    (cell,) = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return cell


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_chapter_notebook_runs_end_to_end(tmp_path, monkeypatch):
    # A kernel spec of our own, on this interpreter: a "python3" kernel installed
    # elsewhere on the machine must not run the notebook instead.
    spec = tmp_path / "jupyter" / "kernels" / "gankit-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gankit test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=120, kernel_name="gankit-test",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - started
    assert seconds < 120
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    stderr = [o.text for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert stderr == []  # no warnings for the reader either

    # The live plot: one picture, replaced in place after each of the 20 epochs.
    train_cell = _tagged(nb, "train")
    images = [o for o in train_cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert "live plot redrawn 20 times" in _text(train_cell)
    assert re.search(r"loss_D 0\.\d{3}, loss_G 0\.\d{3}, [\d.]+ examples/sec", _text(train_cell))

    # The evaluation: one run, near the truth; how far behind the MLE it is varies with the seed (the
    # notebook quotes the statistic over seeds), so only the ranges are checked: the MLE's FD is ~0.008
    # in expectation at 1000 points (SEED.md) and the GAN's median over seeds 0.08.
    text = _text(_tagged(nb, "evaluate"))
    fd_gan, fd_mle = map(float, re.search(r"FD to truth: GAN ([\d.]+)\s+MLE ([\d.]+)", text).groups())
    assert 0.0005 < fd_gan < 1.0 and 0.0 < fd_mle < 0.05
    assert "generator" in text and "MLE of data" in text

    # Both objectives side by side, each against its own equilibrium: minimax's G at -ln 2.
    text = _text(_tagged(nb, "objectives"))
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert set(lines) == {"nonsaturating", "minimax"}
    assert "loss_G" in lines["minimax"] and "(equilibrium -0.693)" in lines["minimax"]
    assert "(equilibrium +0.693)" in lines["nonsaturating"] and "(equilibrium -0.693)" not in lines["nonsaturating"]
    assert len([o for o in _tagged(nb, "objectives").outputs if "image/png" in o.get("data", {})]) == 1

    # A two-sample test on each result, reported rather than assumed.
    text = _text(_tagged(nb, "twosample"))
    found = re.findall(r"^(\w+)\s+MMD² (-?[\d.]+), p = ([\d.]+): at α = 0\.05 the test (tells|cannot tell)", text, re.M)
    assert [f[0] for f in found] == ["nonsaturating", "minimax"]
    for _, _, p, verdict in found:
        assert 0 < float(p) <= 1 and (verdict == "tells") == (float(p) <= 0.05)
