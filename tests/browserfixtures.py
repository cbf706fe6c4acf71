"""Headless Chromium for the report tests: found, started without network chatter, or the test skips."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

BROWSER_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def start_chromium(tmp_path: Path):
    """A selenium driver on headless Chromium with browser and network logs, its profile under ``tmp_path``.

    Skips the test when chromium, chromedriver or selenium is missing (``bash scripts/test-setup.sh``
    installs them); under CI, whose set-up installs them, fails instead.
    """
    browser, driver_path = chromium(), shutil.which("chromedriver")
    if browser is None or driver_path is None:
        reason = "chromium and chromedriver not installed (bash scripts/test-setup.sh installs them)"
        if os.environ.get("CI"):  # CI must really run it: its set-up installs them
            pytest.fail(reason)
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in BROWSER_FLAGS + [f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver_path))


def keep_screenshots(*shots: Path) -> None:
    """Copy screenshots to ``$GANKIT_SCREENSHOTS`` when it is set, where a person can look at them."""
    if os.environ.get("GANKIT_SCREENSHOTS"):
        out = Path(os.environ["GANKIT_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, out / shot.name)


PHONE = (390, 844)


def view_page(driver, page: Path, shots: Path, phone_script: str = "return null;") -> SimpleNamespace:
    """Open ``page`` at laptop size, then at a phone's width, screenshotting each (``shots``-laptop.png,
    ``shots``-phone.png).

    Returns:
        ``url``; ``images``: [alt, complete, naturalWidth, naturalHeight] each; ``page_requests``: the
        URLs the page asked for; ``network``: every http(s)/ws(s) request while it was open; ``errors``:
        console errors; at the phone's width ``overflow`` (scrollWidth - clientWidth), ``widest_img``
        (the rightmost image edge), ``viewport`` (clientWidth) and ``phone`` (what ``phone_script``
        returned); ``laptop_shot``, ``phone_shot``.
    """
    driver.set_window_size(1280, 900)
    driver.get("about:blank")  # let the start-up page finish loading ...
    driver.get_log("performance")  # ... and drop its (browser-internal) traffic
    url = page.resolve().as_uri()
    driver.get(url)
    images = driver.execute_script(
        "return Array.from(document.images, i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);")
    sent = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    sent = [m["params"] for m in sent if m["method"] == "Network.requestWillBeSent"]
    page_requests = [p["request"]["url"] for p in sent if url in (p["request"]["url"], p.get("documentURL"))]
    network = [p["request"]["url"] for p in sent if p["request"]["url"].split(":")[0] in ("http", "https", "ws", "wss")]
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    laptop_shot = shots.with_name(shots.name + "-laptop.png")
    assert driver.save_screenshot(str(laptop_shot))
    driver.set_window_size(*PHONE)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    widest_img = driver.execute_script(
        "return Math.max(...Array.from(document.images, i => i.getBoundingClientRect().right));")
    viewport = driver.execute_script("return document.documentElement.clientWidth;")
    phone = driver.execute_script(phone_script)
    phone_shot = shots.with_name(shots.name + "-phone.png")
    assert driver.save_screenshot(str(phone_shot))
    return SimpleNamespace(url=url, images=images, page_requests=page_requests, network=network, errors=errors,
                           overflow=overflow, widest_img=widest_img, viewport=viewport, phone=phone,
                           laptop_shot=laptop_shot, phone_shot=phone_shot)
