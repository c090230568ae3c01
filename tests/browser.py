"""Headless Chromium for the app's browser test (Debian's chromium + chromium-driver, given explicitly:
no Selenium Manager download), and the steps a user takes on the page."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_browser() -> None:
    """Skip where chromium is absent, except in CI (CI installs it: `make browser`), where it fails."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        message = f"{', '.join(missing)} not installed: `make browser` (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def headless_chromium(width: int = 1280, height: int = 1100):
    """A Selenium WebDriver on headless Debian Chromium."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never downloads anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def search_in_page(driver, url: str, query: str, screenshot: Path | None = None, timeout: float = 60.0) -> dict:
    """Open the app, type `query`, click Search; wait for the ranked list and the timeline image.

    Returns {"rows": [[cell text, ...], ...] of the ranked list, "timeline_src": the img's src prefix,
    "selection": the selection line}; saves a screenshot to `screenshot` when given.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, timeout)
    box = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#query textarea, #query input")))
    box.clear()
    box.send_keys(query)
    driver.find_element(By.CSS_SELECTOR, "#search-button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline img"))
    wait.until(lambda d: len(_rows(d)) > 0)
    image = driver.find_element(By.CSS_SELECTOR, "#timeline img")
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image))
    result = {
        "rows": _rows(driver),
        "timeline_src": image.get_attribute("src")[:40],
        "timeline_size": driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image),
        "selection": driver.find_element(By.CSS_SELECTOR, "#selection").text,
    }
    if screenshot is not None:
        driver.save_screenshot(str(screenshot))
    return result


def _rows(driver) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#results [role='row']")  # Gradio's grid: header and body rows
    cells = [[cell.text.strip() for cell in row.find_elements(By.CSS_SELECTOR, "[role='gridcell']")] for row in rows]
    return [row for row in cells if any(row)]
