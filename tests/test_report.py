import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from browserfixtures import keep_screenshots, start_chromium, view_page
from gankit.cli import main
from gankit.errors import UserError
from gankit.viz.report import flatten, render_report, write_report


@pytest.fixture(scope="module")
def _tiny_run(tmp_path_factory):
    from gankit import Config
    from gankit.runs.experiment import run_experiment

    config = Config()
    config.data.n, config.train.epochs = 64, 2
    return run_experiment(config, out=tmp_path_factory.mktemp("tiny") / "run", progress=False).run_dir


@pytest.fixture
def tiny_run(_tiny_run, tmp_path):
    """A fresh copy of a tiny run with every figure, for each test to change."""
    return Path(shutil.copytree(_tiny_run, tmp_path / "run"))


def test_page_is_self_contained(tiny_run):
    page = write_report(tiny_run).read_text()  # also draws GAN Lab's animation, which train leaves out
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    # Every src/href is inline data: nothing to fetch.
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(ref.startswith("data:") for ref in refs)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    images = re.findall(r'<img src="data:image/(png|gif);base64,([^"]+)"', page)
    assert [kind for kind, _ in images] == ["png", "png", "png", "gif", "gif"]
    assert base64.b64decode(images[0][1]) == (tiny_run / "losses.png").read_bytes()
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert f"{summary['fd_to_truth']:.6g}" in page
    assert "<h2>Evaluation</h2>" not in page  # no eval.json in this run


def test_eval_json_is_rendered_generically(tiny_run):
    (tiny_run / "eval.json").write_text(json.dumps(
        {"two_sample": {"mmd": 0.0123, "p_value": 0.42, "reject": False}, "n": 1000, "note": "<ok>"}))
    page = render_report(tiny_run)
    assert "<h2>Evaluation</h2>" in page
    for key in ("two_sample.mmd", "two_sample.p_value", "two_sample.reject", "n"):
        assert f"<th>{key}</th>" in page
    assert "0.0123" in page and "&lt;ok&gt;" in page and "<ok>" not in page  # escaped
    assert flatten({"a": {"b": 1, "c": [1, 2]}}) == [("a.b", 1), ("a.c", [1, 2])]


def test_runs_without_figures_say_so(tmp_path, tiny_config):
    from gankit.runs.experiment import run_experiment

    run = run_experiment(tiny_config, out=tmp_path / "run", plots=False, progress=False).run_dir
    page = render_report(run)
    assert "<img" not in page and "Not in this run: losses.png" in page


def test_bad_input_is_a_clear_error(tiny_run, tmp_path, capsys):
    with pytest.raises(UserError, match="run directory not found"):
        render_report(tmp_path / "nope")
    (tiny_run / "eval.json").write_text("{broken")
    with pytest.raises(UserError, match="eval.json: not valid JSON"):
        write_report(tiny_run)
    assert not (tiny_run / "report.html").exists()  # nothing half-written
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    (tiny_run / "eval.json").unlink()
    assert main(["report", str(tiny_run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_report_of_a_default_run_renders_in_headless_chromium(request, tmp_path):
    """Opens the page in headless Chromium: no console error, every image decoded,
    no network request, no horizontal scrolling on a phone; saves screenshots."""
    driver = start_chromium(tmp_path)  # or skip
    try:
        default_run = request.getfixturevalue("default_run")  # only once the browser is known to be there
        page = write_report(default_run, tmp_path / "report.html")
        seen = view_page(driver, page, tmp_path / "report")
    finally:
        driver.quit()

    assert seen.errors == []
    assert [alt for alt, *_ in seen.images] == ["losses.png", "samples.png", "ganlab.png", "ganlab.gif",
                                                "training.gif"]
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in seen.images)
    # The page asked for nothing but itself and its inline data: images, and
    # nothing at all went to the network while it was open.
    assert seen.url in seen.page_requests
    assert [r for r in seen.page_requests if r != seen.url and not r.startswith("data:")] == []
    assert seen.network == []
    assert seen.overflow <= 0 and seen.widest_img <= seen.viewport
    for shot in (seen.laptop_shot, seen.phone_shot):
        with Image.open(shot) as im:
            assert im.format == "PNG" and im.size[0] > 300
    keep_screenshots(seen.laptop_shot, seen.phone_shot)


def test_a_sweep_directory_gets_a_sweep_page(tmp_path, capsys):
    """Not a single-run page saying "No summary.json": the grid, its figures and every run's row."""
    assert main(["sweep", "--grid", "lr_d=0.01,0.05", "--seeds", "2", "--epochs", "2", "--out",
                 str(tmp_path / "sw"), "--no-progress"]) == 0
    assert main(["report", str(tmp_path / "sw")]) == 0
    page = (tmp_path / "sw" / "report.html").read_text()
    assert "gankit sweep sw" in page and "No summary.json" not in page
    assert re.findall(r'alt="([^"]+)"', page) == ["heatmap.png", "samples.png"]
    runs = json.loads((tmp_path / "sw" / "runs.json").read_text())
    assert page.count("<tr><td") == len(runs) == 4 and f'{runs[3]["fd_to_truth"]:.6g}' in page
    assert main(["report", str(tmp_path / "sw"), "--out", str(tmp_path / "sw" / "runs.csv")]) == 2
    (tmp_path / "sw" / "sweep.json").write_text("[1, 2]")
    capsys.readouterr()
    assert main(["report", str(tmp_path / "sw")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep.json: expected a JSON object" in err
