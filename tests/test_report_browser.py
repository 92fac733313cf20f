"""The report in a real browser: headless Chromium (Debian packages ``chromium`` and
``chromium-driver``) opens the file offline, every section renders, the sample filters
work, nothing in the page runs that should not, the console stays free of errors, and a
screenshot is kept (under tmp_path, and in $EVALS_SCREENSHOT_DIR when set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.results.report import write_report
from evals.results.rundir import find_runs
from tests.report_runs import LIMIT, PROMPT_INJECTION, UNPARSEABLE, shared_runs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SECTIONS = ("overview", "heatmap", "curves", "stage-deltas", "needles", "judges", "samples",
            "manifests")

if (CHROMIUM is None or CHROMEDRIVER is None) and os.environ.get("EVALS_REQUIRE_BROWSER"):
    raise RuntimeError("EVALS_REQUIRE_BROWSER is set but chromium/chromedriver are missing "
                       "(apt-get install chromium chromium-driver)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    root = shared_runs(tmp_path_factory, data_dir)
    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(find_runs([root]), out)


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield drv
    finally:
        drv.quit()


def test_report_renders_and_filters_in_chromium(driver: object, report_file: Path,
                                                tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select, WebDriverWait

    assert isinstance(driver, WebDriver)
    driver.get(report_file.as_uri())
    WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#sample-rows tr"))

    for section in SECTIONS:
        element = driver.find_element(By.ID, section)
        assert element.is_displayed() and element.find_element(By.TAG_NAME, "h2").text
    assert driver.find_element(By.CSS_SELECTOR, "#heatmap svg").size["height"] > 100
    assert driver.find_element(By.CSS_SELECTOR, "#curves svg").size["height"] > 100
    needle = driver.find_element(By.CSS_SELECTOR, "#needles img")
    assert driver.execute_script("return arguments[0].naturalWidth", needle) > 0
    assert len(driver.find_elements(By.CSS_SELECTOR, "#overview-benchmarks tbody tr")) == 6
    assert len(driver.find_elements(By.CSS_SELECTOR, "#judges tbody tr")) == 2

    def rows() -> list[str]:
        return [r.get_attribute("class") or "" for r in
                driver.find_elements(By.CSS_SELECTOR, "#sample-rows tr")]

    everything = rows()
    assert len(everything) == 100  # the first page
    Select(driver.find_element(By.ID, "sample-benchmark")).select_by_visible_text("gsm8k")
    assert len(rows()) == 100 and "of 180 matching" in driver.find_element(
        By.ID, "sample-count").text
    driver.find_element(By.ID, "filter-parse").click()
    parse = rows()
    assert len(parse) == 6 * UNPARSEABLE and all("parse" in c for c in parse)
    statuses = driver.find_elements(By.CSS_SELECTOR, "#sample-rows td.status")
    assert all(s.text.startswith("extraction failed") for s in statuses)
    driver.find_element(By.ID, "filter-failures").click()
    failed = rows()
    assert len(failed) > len(parse) and all("failed" in c for c in failed)
    Select(driver.find_element(By.ID, "sample-checkpoint")).select_by_visible_text("rlhf")
    assert len(rows()) == LIMIT - 18  # the RLHF checkpoint gets 18 of 30 right
    driver.find_element(By.ID, "filter-all").click()
    assert len(rows()) == LIMIT

    # the planted markup is shown as text and nothing planted ran
    first = driver.find_element(By.CSS_SELECTOR, "#sample-rows tr details")
    first.find_element(By.TAG_NAME, "summary").click()
    texts = [p.text for p in first.find_elements(By.TAG_NAME, "pre")]
    assert any(t.startswith(PROMPT_INJECTION.strip()) for t in texts)
    assert driver.execute_script("return window.__pwned") is None
    assert driver.find_elements(By.CSS_SELECTOR, "#samples b") == []

    manifest = driver.find_element(By.CSS_SELECTOR, "details.manifest")
    manifest.find_element(By.TAG_NAME, "summary").click()
    assert "fingerprint" in manifest.text

    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []

    _screenshot(driver, tmp_path / "report.png")


def _screenshot(driver: object, path: Path) -> None:
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(driver, WebDriver)
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(int(height), 8000))
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("EVALS_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / "report.png")
