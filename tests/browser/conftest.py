"""A real browser (Debian's chromium through Playwright) against the station served by uvicorn.

The station is seeded through the HTTP API as a technician would (a real CR chest radiograph, a
CT, a simulated 12-lead ECG) and the pre-reads are stored with ``record_preread`` as the worker
would.  ``playwright install`` is never run: the system chromium is launched by path.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from sharedcenter.auth import Principal
from sharedcenter.services import Services
from tests.conftest import PASSWORD, serve_api
from tests.station_helpers import CXR, ecg_preread, heatmap_preread, preread, upload
from tests.utils import dicom_bytes, simulated_wfdb

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="package")  # playwright runs an event loop in this thread while alive
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def station(services: Services, people: dict[str, Principal], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The served station with a critical CT, a chest radiograph with an AI heatmap, and an ECG."""
    with serve_api(services) as url, httpx.Client(base_url=url, timeout=60) as client:
        cxr = CXR.read_bytes() if CXR.exists() else dicom_bytes("CT_small.dcm")
        ids = {"cxr": upload(client, "tech", {"cxr.dcm": cxr})["id"],
               "ct": upload(client, "tech", {"ct.dcm": dicom_bytes()})["id"],
               "ecg": upload(client, "tech", simulated_wfdb(tmp_path))["id"]}
        preread(services, ids["ct"], critical=True)
        heatmap_preread(services, ids["cxr"], None)
        ecg_preread(services, ids["ecg"])
        yield {"url": url, "ids": ids, "client": client}


def login_page(browser: Any, url: str, username: str) -> Any:
    """A fresh browser context logged in as ``username`` through the login form."""
    page = browser.new_context(viewport={"width": 1500, "height": 950}).new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/worklist" if not username.startswith("tech") else "**/clinic")
    return page


def shot(page: Any, name: str, selector: str | None = None) -> np.ndarray:
    """Take a screenshot (kept under var/screenshots) and return it as pixels."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = page.locator(selector) if selector else page
    data = target.screenshot(path=str(SHOTS / f"{name}.png"))
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)
