"""Drive scripts/explore.py in a real headless Chromium and read back what its chart draws.

Used by tests/explorer/test_explore_browser.py and scripts/bench_explore.py --browser (needs selenium and Debian's
chromium + chromium-driver). What a chart drew is read from the record its component keeps in its iframe
(explorer/lr_chart/chart.js: `window.drawn`, written as it draws the canvas): each series' steps, LRs and pixel
positions, its logged rings, markers, axis ticks and legend.
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "scripts" / "explore.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

# What each chart drew, in page order: the record its canvas component keeps in its iframe (explorer/lr_chart/chart.js:
# `window.drawn`, with each series' steps, LRs, pixel ys, logged rings and markers, the axis ticks and the legend's
# boxes), or null while a chart has drawn nothing yet. The iframe is served by the app itself (same origin).
CHARTS_JS = """
return Array.from(document.querySelectorAll('iframe[title="explorer.chart.lr_chart"]'),
                  (frame) => (frame.contentWindow && frame.contentWindow.drawn) || null);
"""

# The schedules' commands as shown: each <pre class="command"> of their component's iframe (explorer/command_lines;
# the first on the page: the real runs' commands come after it).
COMMANDS_JS = """
const frame = document.querySelector('iframe[title="explorer.commands.command_lines"]');
return Array.from(frame && frame.contentDocument ? frame.contentDocument.querySelectorAll('pre.command') : [],
                  (pre) => pre.textContent.trim());
"""

# Cheap to poll: per series of a chart (the first by default), the number of drawn points and the sum of their LRs;
# computed once per drawing (the record's stamp), so the 10-ms poll does not hold up the page it measures.
SIGNATURE_JS = """
const frame = document.querySelectorAll('iframe[title="explorer.chart.lr_chart"]')[arguments[0] || 0];
const drawn = frame && frame.contentWindow && frame.contentWindow.drawn;
if (!drawn) return null;
if (!drawn.signature) {
  drawn.signature = {};
  for (const s of drawn.series) drawn.signature[s.label] = [s.lrs.length, s.lrs.reduce((a, b) => a + b, 0)];
}
return drawn.signature;
"""


# Two animation frames: whatever the page had to render from the keystrokes so far is on screen (async: the callback
# is Selenium's).
FRAMES_JS = "requestAnimationFrame(() => requestAnimationFrame(arguments[arguments.length - 1]));"

# When a chart's current picture reached the screen: chart.js's `window.shown.at` (ms since the epoch), or null.
SHOWN_JS = """
const frame = document.querySelectorAll('iframe[title="explorer.chart.lr_chart"]')[arguments[0] || 0];
const shown = frame && frame.contentWindow && frame.contentWindow.shown;
return shown ? shown.at : null;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_class(key: str) -> str:
    """The CSS class Streamlit gives the container of the widget with this key (its frontend's own rule)."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


@dataclass
class Curve:
    """One series as drawn: its planned line's (step, lr) points and pixel y, and its logged rings."""

    steps: list
    lrs: list
    ys: list
    logged: list  # (step, lr) of the rings
    color: Optional[str]


class Explorer:
    """The app served by `streamlit run` on a free loopback port, one Chromium page on it."""

    def __init__(self, workdir: Path, width: int = 1400, height: int = 1800, app_args: tuple = ()):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "streamlit.log", "w")
        # As the README starts it (`streamlit run scripts/explore.py`), from the repository: .streamlit/config.toml
        # applies; only the port is ours.
        self.server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP), "--server.port",
                                        str(self.port), *(["--", *app_args] if app_args else [])],
                                       cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={workdir / 'chromium-profile'}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.open()

    def open(self, timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                self.driver.get(self.url)
                break
            except Exception:  # the server is still starting
                if time.time() > deadline or self.server.poll() is not None:
                    raise
                time.sleep(1)
        self.wait(lambda: any(self.charts()), timeout=deadline - time.time(), what="the first chart")
        self.idle()

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self.server.terminate()
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
            self.log.close()

    # ---- waiting ----------------------------------------------------------------------------------------

    def wait(self, condition: Callable[[], object], timeout: float = 30, what: str = "a condition",
             poll: float = 0.05):
        deadline = time.time() + timeout
        while True:
            try:
                result = condition()
            except Exception:  # noqa: BLE001  an element re-rendered under us: try again
                result = None
            if result:
                return result
            if time.time() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}")
            time.sleep(poll)

    def running(self) -> bool:
        """Streamlit's status widget ("Running...") is shown while the script reruns."""
        return bool(self.driver.execute_script(
            "const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
            "return !!(w && w.innerText.toLowerCase().includes('running'));"))

    def idle(self, timeout: float = 60, settle: float = 0.3) -> None:
        """Until no rerun has run for `settle` seconds."""
        quiet_since = time.time()
        deadline = quiet_since + timeout
        while time.time() < deadline:
            if self.running():
                quiet_since = time.time()
            elif time.time() - quiet_since >= settle:
                return
            time.sleep(0.05)
        raise TimeoutError(f"the app kept rerunning for {timeout:.0f} s")

    # ---- widgets, by their Streamlit key ----------------------------------------------------------------

    def widget(self, key: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CLASS_NAME, key_class(key))

    def has_widget(self, key: str) -> bool:
        from selenium.webdriver.common.by import By

        return bool(self.driver.find_elements(By.CLASS_NAME, key_class(key)))

    def _field(self, key: str):
        from selenium.webdriver.common.by import By

        return self.widget(key).find_element(By.CSS_SELECTOR, "input")

    def retried(self, action: Callable[[], object], attempts: int = 5):
        """`action`, again if the element it held was re-rendered under it (Streamlit reruns replace elements)."""
        from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException

        for attempt in range(attempts):
            try:
                return action()
            except (StaleElementReferenceException, ElementClickInterceptedException):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.3)

    def type_into(self, key: str, text: str) -> None:
        self.idle()  # an edit typed during a rerun can be lost as the page re-renders
        self.retried(lambda: self._type_into(key, text))

    def _type_into(self, key: str, text: str) -> None:
        """Replace a number or text input's content and press Enter, as a user does: the text first, then Enter once
        the page has shown it. A person's keystrokes come a tenth of a second apart, and the page re-renders the field
        (and its "Press Enter to apply") after each; sent in one burst with the Enter, all that rendering would land
        after the Enter and be timed as the edit's."""
        from selenium.webdriver.common.keys import Keys

        field = self._field(key)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.BACKSPACE)
        field.send_keys(str(text))
        self.driver.execute_async_script(FRAMES_JS)
        field.send_keys(Keys.ENTER)

    def choose(self, key: str, option: str) -> None:
        self.idle()  # an edit typed during a rerun can be lost as the page re-renders
        self.retried(lambda: self._choose(key, option))

    def _choose(self, key: str, option: str) -> None:
        """Pick `option` in a selectbox: open it, type to filter, click the option with exactly that text."""
        from selenium.webdriver.common.by import By

        field = self._field(key)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        field.click()
        field.send_keys(option)

        def exact():
            for element in self.driver.find_elements(By.CSS_SELECTOR, "[role='option']"):
                if element.text.strip() == option:
                    return element
            return None

        self.wait(exact, timeout=10, what=f"option {option!r} of {key}").click()

    def tick(self, key: str, on: bool) -> None:
        self.idle()  # an edit typed during a rerun can be lost as the page re-renders
        self.retried(lambda: self._tick(key, on))

    def _tick(self, key: str, on: bool) -> None:
        """Set a checkbox or toggle: focus its input, press Space (a click on the label misses React Aria's)."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        box = self.widget(key).find_element(By.CSS_SELECTOR, "input")
        if box.is_selected() != on:
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus();", box)
            ActionChains(self.driver).send_keys(" ").perform()

    def nudge(self, key: str, arrow: str) -> None:
        """Move a slider by one step with the keyboard ("ArrowRight" or "ArrowLeft"), as a user does."""
        self.idle()
        self.retried(lambda: self._nudge(key, arrow))

    def _nudge(self, key: str, arrow: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        thumb = self.widget(key).find_element(By.CSS_SELECTOR, "input[type='range']")  # React Aria's hidden input
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus();", thumb)
        ActionChains(self.driver).send_keys(Keys.ARROW_RIGHT if arrow == "ArrowRight" else Keys.ARROW_LEFT).perform()

    def tab(self, number: int) -> None:
        """Open tab `number`: only the open tab's widgets are on the page, so this waits for its schedule choice."""
        self.idle()
        self.retried(lambda: self._tab(number))
        self.wait(lambda: self.has_widget(f"c{number - 1}:scheduler"), what=f"tab {number}'s fields")
        self.idle()

    def _tab(self, number: int) -> None:
        from selenium.webdriver.common.by import By

        tabs = self.driver.find_elements(By.CSS_SELECTOR, "[role='tab']")
        button = next(t for t in tabs if t.text.startswith(f"{number}:"))
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()

    # ---- what the page shows ----------------------------------------------------------------------------

    def texts(self, selector: str) -> list:
        """The text of every element matching `selector`, read in one script (atomic against reruns)."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent.trim());", selector)

    def commands(self, sweeps: bool = False) -> list:
        """The `python train.py ...` lines on the page, in order (the `--multirun` lines only with `sweeps`): the
        schedules' (their component's iframe, explorer/command_lines), then the real runs' code blocks."""
        lines = self.driver.execute_script(COMMANDS_JS) + self.texts("[data-testid='stCode'] code")
        return [t for t in lines if t.startswith("python train.py") and sweeps == ("--multirun" in t)]

    def errors(self) -> list:
        return self.texts("[data-testid='stAlertContentError']")

    def signature(self, chart: int = 0) -> dict:
        """{series: [points, sum of LRs]} of a chart's planned lines (a cheap poll before curves())."""
        return self.driver.execute_script(SIGNATURE_JS, chart) or {}

    def charts(self) -> list:
        return self.driver.execute_script(CHARTS_JS)

    def shown_at(self, chart: int = 0) -> Optional[float]:
        """When a chart's current picture reached the screen (wall-clock seconds, as time.time() reads them): the
        animation frame after chart.js drew it (its `window.shown`); None before that frame."""
        at = self.driver.execute_script(SHOWN_JS, chart)
        return None if at is None else at / 1000

    def curves(self, chart: int = 0) -> dict:
        """{series label: Curve} of one chart, as its canvas drew it."""
        charts = self.charts()
        drawn = charts[chart] if chart < len(charts) else None
        if not drawn:
            return {}
        return {s["label"]: Curve(s["steps"], s["lrs"], s["ys"], [tuple(r) for r in s["logged"]], s["color"])
                for s in drawn["series"]}

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))


def planned_run(folder: Path, *overrides: str) -> Path:
    """A run directory as train.py leaves one (.hydra/config.yaml, overrides.yaml, an `lr` scalar per step in
    TensorBoard), its LR written from the config's own plan: what the explorer's overlay draws, for its tests and
    benchmark (tests/explorer/test_explore.py::test_a_real_runs_logged_lr_matches_its_planned_curve trains real
    runs)."""
    from omegaconf import OmegaConf

    from engine.config.compose import compose_config
    from engine.run_dir.events import open_event_writer
    from engine.training.schedule_preview import preview

    cfg = compose_config(*overrides)
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), folder / ".hydra" / "overrides.yaml")
    with open_event_writer(folder, 0, {}) as writer:  # the run directory's own writer (engine.run_dir)
        for step, _, lr in preview(cfg).curve:
            writer.add_scalar("lr", lr, step)
    return folder
