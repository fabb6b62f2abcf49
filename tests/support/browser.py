"""A headless Chromium for the report pages' tests (skips the test when Chromium, chromedriver or selenium is missing)."""
import shutil
from pathlib import Path

import pytest


def headless_chromium(profile_dir: Path):
    """A selenium Chrome driver on a headless Chromium with its profile in `profile_dir`; the caller quits it."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements.txt)")
    chromium, chromedriver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("no Chromium + chromedriver installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 f"--user-data-dir={profile_dir}", "--window-size=1200,1600"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(chromedriver), options=options)
