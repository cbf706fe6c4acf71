"""Screenshots of gankit lab for the docs: docs/figures/lab-laptop.png (1366x768) and lab-phone.png (390x844).

Starts ``gankit lab`` on a free port, opens the chapter's Gaussian in
headless Chromium (Debian's chromium and chromedriver: bash scripts/test-setup.sh),
lets the chapter's experiment train slowly (16 steps a frame) for a few epochs, and saves each viewport.

    .venv/bin/python docs/lab_screenshots.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

FIGURES = Path(__file__).resolve().parent / "figures"
PROBLEM = "&target=gaussian&speed=16&autoplay=1"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="train this long before the first shot")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab = subprocess.Popen([sys.executable, "-m", "gankit", "lab", "--port", "0", "--no-browser", "--runs", tmp],
                               stdout=subprocess.PIPE, text=True)
        url = re.search(r"http://\S+", lab.stdout.readline()).group(0)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in FLAGS + [f"--user-data-dir={tmp}/profile"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        try:
            for name, (width, height) in (("laptop", (1366, 768)), ("phone", (390, 844))):
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                    "width": width, "height": height, "deviceScaleFactor": 1, "mobile": name == "phone"})
                if name == "laptop":
                    driver.get(url + PROBLEM)
                    while int(driver.find_element(By.CSS_SELECTOR, '[data-testid="epoch"]').text) < args.epochs:
                        time.sleep(0.2)
                time.sleep(1.5)  # a p-value, and frames/s over a full window
                path = FIGURES / f"lab-{name}.png"
                driver.save_screenshot(str(path))
                print(f"wrote {path}")
        finally:
            driver.quit()
            lab.terminate()
            lab.wait(20)


if __name__ == "__main__":
    main()
