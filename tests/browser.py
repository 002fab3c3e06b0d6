"""Headless Chromium for tests (a helper module, not a conftest: ``from browser import chromium``).

Usage in a test module::

    from browser import chromium, console_errors, wait_for  # noqa: F401  (chromium is a fixture)

    def test_page(chromium, tmp_path):
        chromium.get(path.as_uri())

The fixture is skipped when /usr/bin/chromium (or chromedriver) is missing. Each test gets the same
browser (module scope) with its console log cleared.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest

CHROMIUM = os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ATTNVIZ_CHROMEDRIVER", "/usr/bin/chromedriver")


def make_driver(user_data_dir: Path, *, width: int = 1000, height: int = 900):
    """A fresh headless Chromium (selenium WebDriver) with browser console logging on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--window-size={width},{height}", f"--user-data-dir={user_data_dir}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """A headless Chromium WebDriver shared by the tests of one module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    if not Path(CHROMEDRIVER).exists():
        pytest.skip(f"{CHROMEDRIVER} is missing")
    driver = make_driver(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def console_entries(driver) -> list[dict[str, Any]]:
    """Browser console entries since the last call (reading clears them)."""
    return list(driver.get_log("browser"))


def console_errors(driver) -> list[dict[str, Any]]:
    """SEVERE console entries (errors, failed requests) since the last read."""
    return [e for e in console_entries(driver) if e.get("level") == "SEVERE"]


def requested_urls(driver) -> list[str]:
    """URLs the browser requested since the last read (from Chrome's performance log)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@contextlib.contextmanager
def offline(driver):
    """Chromium with no network: every http(s)/ws(s) request is blocked and the connection is down; restored after."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                 "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        yield driver
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                                     "downloadThroughput": -1, "uploadThroughput": -1})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})


def wait_for(driver, script: str, *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Run ``script`` (a JS expression; it is wrapped in ``return (...)``) until it is truthy."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {script!r} (last value {value!r})")


def drawn_in_frame(driver, frame, script: str = "return null", *, timeout: float = 60.0) -> Any:
    """Scroll ``frame`` (an attnviz iframe) into view, wait inside it until the figure is drawn with no message
    shown, and return what ``script`` returns there."""
    driver.execute_script("arguments[0].scrollIntoView()", frame)
    driver.switch_to.frame(frame)
    try:
        wait_for(driver, "window.Attnviz?.ready === true", timeout=timeout)
        assert driver.execute_script("return document.getElementById('attnviz-message').hidden")
        return driver.execute_script(script)
    finally:
        driver.switch_to.default_content()


def screenshot_array(driver):
    """The viewport as an RGB numpy array (H, W, 3) of uint8."""
    import numpy as np
    from matplotlib.image import imread

    png = driver.get_screenshot_as_png()
    rgb = imread(io.BytesIO(png), format="png")[..., :3]
    return (np.asarray(rgb) * 255).round().astype("uint8")


def element_box(driver, css: str) -> dict[str, float]:
    """The viewport rectangle of the first element matching ``css``."""
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {x: r.left, y: r.top, width: r.width, height: r.height};", css)


def until(predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll a Python callable until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
