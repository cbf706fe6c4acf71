"""The report page of an image run: its captions, the headline quality table, class shares, a phone's width."""

import html
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from browserfixtures import keep_screenshots, start_chromium, view_page
from gankit.viz.report import render_report, write_report
from gankit.viz.report_images import QUALITY_LABELS
from imagefixtures import write_image_folder

TWO_D_CAPTIONS = ["Real vs generated points", "D's P(real) shaded behind", "GAN Lab view",
                  "ln 2 for both under the chapter's loss"]


@pytest.fixture(scope="module")
def _image_run(tmp_path_factory):
    """A conditional DCGAN at width 8, two epochs on 24 8x8 images of two named classes (a few seconds)."""
    from gankit.presets import preset_config
    from gankit.runs.experiment import run_experiment

    root = tmp_path_factory.mktemp("images")
    with pytest.MonkeyPatch.context() as env:  # the caches of this run only, never the user's
        env.setenv("GANKIT_DATA", str(root / "data"))
        env.setenv("GANKIT_CACHE", str(root / "cache"))
        env.delenv("GANKIT_DATA_URL", raising=False)
        config = preset_config("dcgan")
        config.data.source = f"folder:{write_image_folder(root / 'imgs', n=24)}"
        config.model.g_width = config.model.d_width = config.model.latent_dim = 8
        config.model.conditional = True
        config.train.batch_size, config.train.epochs = 8, 2
        config.quality.kid_subsets = 3
        return run_experiment(config, out=root / "run", progress=False).run_dir


@pytest.fixture
def image_run(_image_run, tmp_path):
    """A fresh copy of the tiny image run, for each test to change."""
    return Path(shutil.copytree(_image_run, tmp_path / "run"))


def quality_of(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())["quality"]


def set_quality(run: Path, **changes) -> dict:
    """Change (None: record as null) or, with ``...``, remove keys of the run's recorded quality."""
    summary = json.loads((run / "summary.json").read_text())
    for key, value in changes.items():
        if value is ...:
            summary["quality"].pop(key)
        else:
            summary["quality"][key] = value
    (run / "summary.json").write_text(json.dumps(summary))
    return summary["quality"]


def headline(page: str, which: int = 0) -> dict[str, list[str]]:
    """The ``which``-th headline table as {row label: [this run, real halves, noise]}, a skipped
    score's reason in brackets after its dash."""
    tables = re.findall(r'<table class="headline">(.*?)</table>', page, re.S)
    rows = {}
    for label, cells in re.findall(r'<tr><th scope="row">(.*?)<span class="explain">.*?</span></th>(.*?)</tr>',
                                   tables[which]):
        texts = re.findall(r'<td class="num" data-label="[^"]+">(.*?)</td>', cells)
        rows[html.unescape(label)] = [html.unescape(re.sub(r'<span class="skipped">skipped: (.*?)</span>',
                                                           r" [\1]", t)) for t in texts]
    return rows


def sig4(x: float, like: float | None = None) -> str:
    """Four significant digits in fixed point (a spread: to its mean's decimals)."""
    return f"{x:.{max(0, 3 - math.floor(math.log10(abs(like if like is not None else x))))}f}"


def test_image_page_has_image_captions_and_is_self_contained(image_run):
    page = write_report(image_run).read_text()
    assert not (image_run / "ganlab.gif").exists() and not (image_run / "ganlab.png").exists()  # none drawn
    alts = re.findall(r'<img src="data:image/(?:png|gif);base64,[^"]+" alt="([^"]+)"', page)
    assert alts == ["samples.png", "real.png", "interpolation.png", "losses.png", "training.gif"]
    for caption in ["images G_ema, the moving average of G's weights, drew from the same fixed noise",
                    "Conditional: column c holds class c mod 2 (left, right)",
                    "Real training images in the same layout",
                    "Latent interpolation by G_ema", "one frame per epoch, each labelled with its epoch",
                    "loss_D 0.693, loss_G 0.693 under nonsaturating",
                    "They do not say how good the images are"]:
        assert html.escape(caption) in page, caption
    assert not [c for c in TWO_D_CAPTIONS if html.escape(c) in page]
    assert "data that is not 2-D" not in page
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(ref.startswith("data:") for ref in refs)
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_headline_shows_the_runs_scores_beside_their_baselines(image_run):
    q = quality_of(image_run)
    page = render_report(image_run)
    rows = headline(page)
    n = q["n_yardstick"]
    assert list(rows) == ["FD (Fréchet distance)", "FD ratio", f"FD ratio at {n} a side", "FD∞ (any number of images)",
                          "KID (kernel inception distance)", "Precision", "Recall", "Smallest class share",
                          "Label accuracy"]
    mlo, mhi = q["fd_ratio_matched_interval"]
    assert rows[f"FD ratio at {n} a side"] == [
        f"{sig4(q['fd_ratio_matched'])} [{sig4(mlo)}, {sig4(mhi)}]",
        f"1 (FD {sig4(q['fd_yardstick'])} ± {sig4(q['fd_yardstick_std'])})", "–"]
    assert mlo <= q["fd_ratio_matched"] <= mhi
    assert rows["FD∞ (any number of images)"] == [
        f"{sig4(q['fd_inf'])} ± {sig4(q['fd_inf_se'], like=q['fd_inf'])}",
        f"{sig4(q['fd_inf_real_halves'])} ± {sig4(q['fd_inf_real_halves_se'], like=q['fd_inf_real_halves'])}", "–"]
    assert rows["FD (Fréchet distance)"] == [f"{sig4(q['fd'])} ± {sig4(q['fd_std'], like=q['fd'])}",
                                             sig4(q["fd_real_halves"]), sig4(q["fd_noise"])]
    lo, hi = q["fd_ratio_interval"]
    assert rows["FD ratio"] == [f"{sig4(q['fd_ratio'])} ± {sig4(q['fd_ratio_se'])} [{sig4(lo)}, {sig4(hi)}]", "1",
                                sig4(q["fd_noise"] / q["fd_real_halves"])]
    assert lo <= q["fd_ratio"] <= hi
    # 12 training against 12 held-out images: every subset of 500 is both halves whole, so no spread
    assert q["kid_real_halves_se"] is None and "both sets whole" in q["kid_real_halves_spread_skipped"]
    assert rows["KID (kernel inception distance)"] == [
        f"{sig4(q['kid'])} ± {sig4(q['kid_se'], like=q['kid'])}", sig4(q["kid_real_halves"]), "–"]
    def halves(key):
        return f"{q[key]:.3f} ± {sig4(q[key + '_std'], like=q[key])}"
    assert rows["Precision"] == [f"{q['precision']:.3f}", halves("precision_real_halves"), "–"]
    assert rows["Recall"] == [f"{q['recall']:.3f}", halves("recall_real_halves"), "–"]
    assert q["n_pr_real_halves"] == q["n_generated"]  # real against real at the generated comparison's size
    rarest = min(range(2), key=lambda i: q["class_fractions"][i])
    assert rows["Smallest class share"] == [f"{100 * q['min_class_fraction']:.1f}% ({q['classes'][rarest]})",
                                            "50.0%", "–"]  # the held-out images are half left, half right
    assert rows["Label accuracy"] == [f"{100 * q['label_accuracy']:.1f}%", f"{100 * q['classifier_accuracy']:.1f}%",
                                      "–"]
    # the sample sizes under it, and every quality key under a label: none as a bare quality.* row
    assert (f"{q['n_generated']} generated images per set against {q['n_reference']} real held-out images"
            in html.unescape(page))
    assert f"KID: 3 random subsets of {q['kid_subset_size']} from {q['n_kid_generated']} generated" in page
    assert set(q) <= set(QUALITY_LABELS)
    assert "<th>quality." not in page and "<th>fd</th>" not in page
    # the pictures first, generated beside real, then the scores; the full list folded at the bottom
    assert (page.index('alt="samples.png"') < page.index('alt="real.png"') < page.index('class="headline"')
            < page.index("<h2>Figures</h2>") < page.index("<details><summary>Every quality score"))


def test_an_unconditional_run_without_a_held_out_split_shows_what_it_has(image_run):
    set_quality(image_run, label_accuracy=..., label_accuracy_by_class=..., n_label_accuracy=...,
                fd_real_halves=..., kid_real_halves=..., kid_real_halves_se=..., fd_ratio=...,
                reference_class_fractions=..., classifier_accuracy=..., fd_ratio_matched=...,
                fd_ratio_matched_interval=..., fd_yardstick=..., fd_yardstick_std=..., n_yardstick=...,
                yardstick_splits=..., fd_inf=..., fd_inf_slope=..., fd_inf_sizes=..., fd_inf_real_halves=...,
                fd_inf_se=..., fd_inf_real_halves_se=...,
                reference="train")
    page = html.unescape(render_report(image_run))
    rows = headline(page)
    assert list(rows) == ["FD (Fréchet distance)", "KID (kernel inception distance)", "Precision", "Recall",
                          "Smallest class share"]
    assert rows["FD (Fréchet distance)"][1] == "–" and rows["KID (kernel inception distance)"][1] == "–"
    assert rows["Smallest class share"][1] == "–"
    assert "no held-out split, so no real-halves baseline" in page and "real train images" in page


def test_a_skipped_score_shows_a_dash_and_its_reason(image_run):
    why = "needs at least 2 images a side, got 1 generated and 12 reference"
    set_quality(image_run, fd=None, fd_std=None, fd_skipped=why, fd_ratio=None, kid=None, kid_se=None,
                kid_skipped="needs at least 2 images a side, got 1 and 12", precision=None, recall=None,
                pr_skipped="needs at least 2 images a side, got 12 real and 1 generated")
    rows = headline(render_report(image_run))
    assert rows["FD (Fréchet distance)"][0] == f"– [{why}]"
    assert rows["FD ratio"][0] == f"– [{why}]"
    assert rows["KID (kernel inception distance)"][0] == "– [needs at least 2 images a side, got 1 and 12]"
    assert rows["Precision"][0] == rows["Recall"][0] == "– [needs at least 2 images a side, got 12 real and 1 generated]"
    assert rows["FD (Fréchet distance)"][1] != "–"  # the baselines were still computed


def test_class_shares_by_name(image_run):
    q = set_quality(image_run, class_fractions=[0.75, 0.25], min_class_fraction=0.25,
                    label_accuracy_by_class=[0.9, 0.4], class_fractions_std=[0.02, 0.02],
                    class_fractions_real_halves=[0.5, 0.5], class_fractions_real_halves_std=[0.083, 0.083],
                    class_shares_tv=0.25, class_shares_tv_std=0.02, class_shares_tv_real_halves=0.07,
                    class_shares_tv_real_halves_std=0.05)
    page = render_report(image_run)
    table = re.search(r'<table class="classes">(.*?)</table>', page, re.S).group(1)
    cells = [re.findall(r'<td class="num">([^<]*)', row) for row in re.findall(r"<tr><th>(?:left|right)</th>(.*?)</tr>", table)]
    assert re.findall(r"<tr><th>(left|right)</th>", table) == ["left", "right"]
    assert cells == [["75.0% ± 2.0%", "50.0%", "50.0% ± 8.3%", "90.0%"], ["25.0% ± 2.0%", "50.0%", "50.0% ± 8.3%", "40.0%"]]
    assert "Total variation to the real shares: 0.250 ± 0.020, against 0.070 ± 0.050 for real images" in page
    assert headline(page)["Smallest class share"][0] == "25.0% (right)"
    assert f"Share of the {q['n_class_fractions']} generated images" in page


def test_an_image_eval_json_gets_its_own_headline(image_run):
    q = quality_of(image_run)
    (image_run / "eval.json").write_text(json.dumps({"kind": "images", "quality": {**q, "generator": "G_ema",
                                                                                    "fd": 1234.25}}))
    page = render_report(image_run)
    assert "<h2>Evaluation</h2>" in page and "gankit eval: G_ema (eval.json)" in page
    assert headline(page, 1)["FD (Fréchet distance)"][0].startswith("1234 ± ")
    assert headline(page, 0)["FD (Fréchet distance)"][0].startswith(sig4(q["fd"]))  # the summary's, above it
    assert "<th>quality.fd</th>" not in page
    assert "<details><summary>Every evaluation score, eval.json" in page


def test_an_eval_json_with_the_summarys_scores_is_not_shown_twice(image_run):
    """gankit eval right after training finds the same numbers: one table and a line, not the table again."""
    q = quality_of(image_run)
    (image_run / "eval.json").write_text(json.dumps({"kind": "images", "quality": {
        **q, "generator": "G_ema", "classifier_cached": True}}))  # what produced them differs, not the scores
    page = render_report(image_run)
    assert page.count('<table class="headline">') == 1 and "found the same scores as the end of training" in page
    assert "Every evaluation score" not in page
    (image_run / "eval.json").write_text(json.dumps({"kind": "images", "quality": {**q, "recall": 0.125}}))
    page = render_report(image_run)  # the control: one score differs, and both tables are there
    assert page.count('<table class="headline">') == 2 and headline(page, 1)["Recall"][0] == "0.125"


def test_health_warnings_and_a_small_grid_from_an_older_run(image_run):
    from PIL import Image

    summary = json.loads((image_run / "summary.json").read_text())
    summary["warnings"] = [{"kind": "collapse", "epoch": 2, "message": "samples look alike <x>",
                            "fix": "--augment diffaug"}]
    (image_run / "summary.json").write_text(json.dumps(summary))
    Image.new("L", (73, 73), 128).save(image_run / "samples.png")  # a grid before they were scaled up
    page = render_report(image_run)
    assert "<li>samples look alike &lt;x&gt; (epoch 2); try: --augment diffaug</li>" in page
    assert page.index("samples look alike") < page.index("<h2>Figures</h2>")
    assert re.findall(r'alt="([^"]+)" class="pixelated"', page) == ["samples.png"]  # the 73-px one only


@pytest.mark.parametrize("key, value", [("fd_ratio", "oops"), ("fd_ratio_interval", [1.0]),
                                        ("class_fractions", ["x"]), ("feature_space", 3), ("kid", True)])
def test_a_hostile_quality_record_is_one_line_and_writes_nothing(image_run, capsys, key, value):
    from gankit.cli import main

    set_quality(image_run, **{key: value})
    assert main(["report", str(image_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"quality.{key}" in err and "summary.json" in err and "Traceback" not in err
    assert not (image_run / "report.html").exists()


def test_a_nan_score_in_a_well_formed_record_prints_as_nan(image_run):
    (image_run / "summary.json").write_text(
        (image_run / "summary.json").read_text().replace('"fd": ', '"fd": NaN, "_was": ', 1))
    assert quality_of(image_run)["fd"] != quality_of(image_run)["fd"]  # NaN
    assert headline(render_report(image_run))["FD (Fréchet distance)"][0].startswith("nan")


def test_a_2d_page_has_no_image_tables(tmp_path, tiny_config):
    """Negative control: a 2-D run keeps its own captions and has no headline or class table."""
    from gankit.runs.experiment import run_experiment

    run = run_experiment(tiny_config, out=tmp_path / "run", progress=False).run_dir
    page = render_report(run)
    assert 'class="headline"' not in page and 'class="classes"' not in page and "<h2>Quality</h2>" not in page
    assert "Real vs generated points at the end" in page and "Every quality score" not in page
    assert "image-rendering" not in page  # the image pages' CSS stays off the 2-D page


def test_image_report_reads_on_a_phone(image_run, tmp_path):
    """At 390 px wide nothing scrolls sideways: the headline table stacks, images scale, nothing is fetched."""
    driver = start_chromium(tmp_path)  # or skip
    try:
        page = write_report(image_run, tmp_path / "report.html")
        seen = view_page(driver, page, tmp_path / "report-images", phone_script="""
            const t = document.querySelector('table.headline');
            return [t.getBoundingClientRect().right, t.parentElement.scrollWidth - t.parentElement.clientWidth,
                    getComputedStyle(t.querySelector('td')).display];""")
    finally:
        driver.quit()
    assert seen.errors == [] and seen.network == []
    assert [r for r in seen.page_requests if r != seen.url and not r.startswith("data:")] == []
    assert [alt for alt, *_ in seen.images] == ["samples.png", "real.png", "interpolation.png", "losses.png",
                                                "training.gif"]
    assert all(complete and width > 0 for _, complete, width, _ in seen.images)
    assert seen.viewport <= 390 and seen.overflow <= 0 and seen.widest_img <= seen.viewport
    table_right, table_scroll, cell_display = seen.phone
    assert table_right <= seen.viewport and table_scroll <= 0  # the headline itself fits: no sideways scrolling
    assert cell_display == "block"  # stacked: each score's values under its name
    keep_screenshots(seen.laptop_shot, seen.phone_shot)
