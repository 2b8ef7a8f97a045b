"""The web UI in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven through selenium.

A person's path: fill the start form (users, spawn rate, the SLA window among the custom parameters), start, open
the SLA tab and see its rows fill in; the simulator is switched to its slow-export profile through its admin
endpoint and the export's breach appears in the tab; stop, and open the test's report from Download Data.

Skipped, with its reason on one line of the pytest summary, where Chromium or its driver is missing; under CI
(``CI`` set) a missing browser is a failure instead, since .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from harness.simulator_process import start_simulator
from tests.support.locust_runs import clean_environment
from tests.support.ui_runs import locust_ui

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1500,1100")  # fmt: skip
EXPORT = "POST /functions/v1/campaign-export-user-aware?download=true [csv]"
SCREENSHOTS = os.environ.get("WEBUI_SCREENSHOTS")  # a folder to keep the screenshots in (to look at them)


def _browser_or_skip():
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not os.path.exists(path)]
    if missing:
        reason = f"browser test skipped: {' and '.join(missing)} not installed (apt-get install chromium chromium-driver; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason.replace("skipped", "cannot run in CI"))
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options), profile


def _wait(driver, condition, what: str, timeout_s: float = 60):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.5, ignored_exceptions=(WebDriverException,)).until(condition)
    except Exception as error:
        raise AssertionError(f"the page never showed {what} within {timeout_s} s ({type(error).__name__})") from None


def _sla_row(driver, subject: str, criterion: str) -> dict[str, str] | None:
    """The SLA tab's row for a check, as {column title: cell text}, or None while it is not there."""
    from selenium.webdriver.common.by import By

    titles = [cell.text.strip() for cell in driver.find_elements(By.CSS_SELECTOR, "table thead th")]
    for row in driver.find_elements(By.CSS_SELECTOR, "table tbody tr"):
        cells = [cell.text.strip() for cell in row.find_elements(By.TAG_NAME, "td")]
        if len(cells) == len(titles) and cells[:2] == [subject, criterion]:
            return dict(zip(titles, cells, strict=True))
    return None


def _shot(driver, folder: Path, name: str) -> None:
    driver.save_screenshot(str(folder / name))
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / name, Path(SCREENSHOTS) / name)


def test_a_person_starts_a_test_sees_the_sla_rows_and_the_export_breach_then_stops_and_opens_the_report(tmp_path):
    from selenium.webdriver.common.by import By

    driver, profile = _browser_or_skip()
    # Realistic latencies (time scale 1: slow-export's 8x makes a csv export ~2.8 s, over its 2 s SLA); ExportUser
    # only, so the export gets the baseline's 20 samples in seconds.
    simulator = start_simulator("--time-scale", "1.0", "--job-time-scale", "0.02", log_path=tmp_path / "simulator.log")
    try:
        with locust_ui(simulator.url, tmp_path / "results", "ExportUser", env=clean_environment()) as ui:
            driver.get(ui.url)
            _wait(driver, lambda d: d.find_elements(By.NAME, "userCount"), "the start form")
            _type(driver, "userCount", "10")
            _type(driver, "spawnRate", "10")
            driver.find_element(By.XPATH, "//button[contains(., 'Custom parameters')]").click()
            _wait(driver, lambda d: d.find_element(By.NAME, "slaWindowSeconds").is_displayed(), "the custom parameters")
            _type(driver, "slaWindowSeconds", "15")
            driver.find_element(By.XPATH, "//button[@type='submit' and contains(., 'Start') or contains(., 'START')]").click()

            _wait(driver, lambda d: d.find_elements(By.XPATH, "//button[@role='tab' and normalize-space(.)='SLA']"), "the SLA tab")
            driver.find_element(By.XPATH, "//button[@role='tab' and normalize-space(.)='SLA']").click()
            row = _wait(driver, lambda d: (r := _sla_row(d, EXPORT, "p95_ms")) and r["Verdict"] == "pass" and r,
                        "the export's p95 row judged 'pass'", timeout_s=90)  # fmt: skip
            assert row["Limit"] == "2000 ms"
            summary = _sla_row(driver, "run", "verdict (if the test stopped now)")
            assert summary is not None and "exit" in summary["Whole test"]
            _shot(driver, tmp_path, "sla-tab-running.png")

            simulator.set_profile("slow-export")
            row = _wait(driver, lambda d: (r := _sla_row(d, EXPORT, "p95_ms")) and r["Last N s verdict"].startswith("breach") and r,
                        "the export's breach after switching the simulator to slow-export", timeout_s=90)  # fmt: skip
            assert int(row["Last N s"].split()[0]) > 2000
            _wait(driver, lambda d: (r := _sla_row(d, EXPORT, "p95_ms")) and r["Verdict"] == "breach" and r["Breaching for"],
                  "the whole test's export verdict turning to breach", timeout_s=90)  # fmt: skip
            _shot(driver, tmp_path, "sla-tab-breach.png")

            driver.find_element(By.XPATH, "//button[normalize-space(.)='Stop' or normalize-space(.)='STOP']").click()
            ui.wait_finished()  # the test's folder, verdict and report are written; Locust keeps running
            # Locust's UI stops polling once a test is stopped: a person reloads to see the final verdict.
            driver.refresh()
            _wait(driver, lambda d: d.find_elements(By.XPATH, "//button[@role='tab' and normalize-space(.)='SLA']"), "the SLA tab")
            driver.find_element(By.XPATH, "//button[@role='tab' and normalize-space(.)='SLA']").click()
            final = _wait(driver, lambda d: _sla_row(d, "run", "verdict (final)"), "the final verdict after stopping")
            assert final["Whole test"].startswith("breach (exit 3)") and "report" in final["Note"], final
            _shot(driver, tmp_path, "sla-tab-final.png")

            driver.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Download Data')]").click()
            link = _wait(driver, lambda d: d.find_element(By.XPATH, "//a[contains(., 'Report of the last finished test')]"), "the report link")
            link.click()
            if len(driver.window_handles) > 1:
                driver.switch_to.window(driver.window_handles[-1])
            _wait(driver, lambda d: "/sla/runs/" in d.current_url and EXPORT.split(" [")[0].split(" ", 1)[1] in d.page_source,
                  "the test's report page")  # fmt: skip
            assert "breach" in driver.page_source.lower()
            _shot(driver, tmp_path, "report.png")
    finally:
        driver.quit()
        simulator.stop()
        shutil.rmtree(profile, ignore_errors=True)


def _type(driver, name: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.NAME, name)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)
    time.sleep(0.1)
