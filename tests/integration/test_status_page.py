"""The dashboard in a real browser: Debian's chromium, driven by chromium-driver through
python3-selenium, opens our controller's status page while a Python client keeps engines busy.

Asserted: the page shows both engines (one table row each) and a nonzero task rate, the chart
canvas is drawn, and the browser logged no error. The screenshot is written to
$IPP_DASHBOARD_SCREENSHOT when set (docs/monitoring.md shows it, taken after
IPP_DASHBOARD_SECONDS=60 of work), else beside the test's logs.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from ipyparallel import interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl, scaled, wait_for

selenium = pytest.importorskip("selenium", reason="python3-selenium is not installed")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@interactive
def nap(x):
    import time
    time.sleep(0.02)
    return x


def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.fail("chromium and chromium-driver are needed (scripts/install-deps.sh)")
    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--window-size=1280,900"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def test_the_dashboard_shows_engines_and_throughput_while_work_runs():
    with running_cluster(Impl("cpp", "cpp"), 2, "dashboard",
                         controller_args=["--status-port=0"]) as cluster:
        path = cluster.security_dir / "ipcontroller-status.json"
        wait_for(path.exists, scaled(10), message="ipcontroller-status.json")
        url = json.loads(path.read_text())["url"]
        rc = cluster.clients[0]
        lview = rc.load_balanced_view()
        stop = threading.Event()
        results = []

        def work():
            while not stop.is_set():
                results.append(lview.map_sync(nap, range(50)) == list(range(50)))

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        driver = browser()
        try:
            driver.get(url)
            tid = lambda t: driver.find_element(By.CSS_SELECTOR, f'[data-testid="{t}"]')
            wait = WebDriverWait(driver, scaled(30))
            wait.until(lambda _: tid("engine-count").text == "2")
            wait.until(lambda _: float(tid("task-rate").text or 0) > 0)
            # the page redraws every second: read the rows in one script call, not element by
            # element (an element found before a redraw is stale after it)
            ids = driver.execute_script(
                "return Array.from(document.querySelectorAll("
                "'[data-testid=\"engines-table\"] tbody tr'), r => r.cells[0].textContent.trim())")
            assert sorted(ids) == sorted(str(i) for i in rc.ids)
            # for the screenshot in the docs: let the chart fill up
            time.sleep(float(os.environ.get("IPP_DASHBOARD_SECONDS", "0")))
            chart = tid("throughput-chart")
            assert chart.size["width"] > 200 and chart.size["height"] > 100
            shot = os.environ.get("IPP_DASHBOARD_SCREENSHOT") or str(
                cluster.log_dir / "dashboard.png")
            assert driver.save_screenshot(shot)
            assert Path(shot).stat().st_size > 10_000
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == []
        finally:
            driver.quit()
            stop.set()
            worker.join(timeout=scaled(30))
        assert results and all(results)
