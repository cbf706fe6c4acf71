"""The documentation site builds with `mkdocs build --strict` (no broken link, no missing page) and its
generated reference holds every CLI flag and config key."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_site_builds_strict_with_every_page(site):
    for page in ("index.html", "tutorials/chapter/index.html", "reference/cli/index.html",
                 "reference/config/index.html", "reference/python/index.html", "search/search_index.json"):
        assert (site / page).stat().st_size > 1000, page


def test_the_reference_is_generated_from_the_parser_and_the_declarations(site):
    from gankit.cli import build_parser
    from gankit.config import Config

    cli = (site / "reference" / "cli" / "index.html").read_text()
    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    for name, sub in commands.choices.items():
        assert f"gankit {name}" in cli
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in cli, f"gankit {name} {flag} is missing from the CLI reference"
    keys = (site / "reference" / "config" / "index.html").read_text()
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(section.default_factory()):
            assert f"{section.name}.{f.name}" in keys, f"{section.name}.{f.name} is missing from the config reference"
    assert "in [0, 1)" in keys  # a constraint as declared (data.holdout)
    api = (site / "reference" / "python" / "index.html").read_text()
    for name in ("Config", "train", "run_experiment", "sample_run"):
        assert f'id="gankit.' in api and f".{name}\"" in api, f"{name} is missing from the Python API page"


# -- the built site in headless Chromium ----------------------------------------------------------
@pytest.fixture()
def served(site):
    """The built site over HTTP on 127.0.0.1 (Material's search runs in a web worker, which file:// refuses)."""
    from namedfixtures import serve

    with serve(site) as base:
        yield base


def _visible_text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def test_the_site_renders_in_chromium_and_its_search_finds_lr_d(site, served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from browserfixtures import keep_screenshots, start_chromium

    driver = start_chromium(tmp_path)
    try:
        driver.set_window_size(1280, 900)
        shots = []
        pages = {"index.html": "Train, watch and test",
                 "tutorials/chapter/index.html": "The chapter, step by step",
                 "reference/config/index.html": "train.lr_d"}
        for page, expected in pages.items():
            driver.get(f"{served}/{page}")
            WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
            text = _visible_text(driver)
            assert expected in text, page
            assert driver.find_element(By.CSS_SELECTOR, "nav.md-nav").is_displayed(), page  # Material's theme applied
            if page.startswith("tutorials/"):  # the screenshot shows the tutorial's first figure
                driver.execute_script("document.querySelector('article img').scrollIntoView()")
            shot = tmp_path / f"site-{page.split('/')[0].replace('.html', '')}.png"
            driver.save_screenshot(str(shot))
            shots.append(shot)
            if page.startswith("tutorials/"):  # the tutorial's figures are drawn, not broken links
                images = driver.find_elements(By.CSS_SELECTOR, "article img")
                assert images, "the chapter tutorial shows no figure"
                widths = [driver.execute_script("return arguments[0].naturalWidth", img) for img in images]
                assert all(w > 100 for w in widths), widths
        keep_screenshots(*shots)
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
        # the search box: Material's worker indexes search_index.json, then lists the pages that hold lr_d
        driver.get(f"{served}/index.html")
        box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
        box.click()  # in the header at this width
        box.send_keys("lr_d")
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
        results = driver.find_elements(By.CSS_SELECTOR, ".md-search-result__item a")
        targets = [a.get_attribute("href") for a in results]
        assert len(targets) >= 3 and any("/how-to/tuning/" in t for t in targets), targets
        index = json.loads((site / "search" / "search_index.json").read_text())["docs"]
        assert any(d["location"].startswith("reference/config/") and "lr_d" in d["text"] for d in index)
        # a negative control: a word in no page finds nothing
        box.clear()
        box.send_keys("zqxwvunlikelyword")
        WebDriverWait(driver, 10).until(
            lambda d: "No matching documents" in d.find_element(By.CSS_SELECTOR, ".md-search-result__meta").text)
    finally:
        driver.quit()
