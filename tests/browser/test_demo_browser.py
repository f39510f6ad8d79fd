"""The demo's people and samples work in the station: the demo radiologist, cardiologist and
technician log in and see, open and read what ``sharedcenter demo`` sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from sharedcenter.demo import DEMO_PASSWORD, demo_samples, ensure_demo_users
from sharedcenter.services import Services
from sharedcenter.upload import collect
from tests.browser.conftest import shot
from tests.conftest import serve_api
from tests.station_helpers import preread

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _login(browser: Any, url: str, username: str, home: str) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{home}")
    return page


def test_demo_people_read_the_demo_samples(browser: Any, services: Services, tmp_path: Path) -> None:
    ensure_demo_users(services)
    with serve_api(services) as url, httpx.Client(base_url=url, timeout=60) as client:
        token = client.post("/api/auth/login", json={"username": "tech_demo", "password": DEMO_PASSWORD}).json()
        client.cookies.clear()
        inputs = collect(demo_samples(tmp_path))
        files = [("files", (item.name, item.read())) for item in inputs.items]
        inputs.close()
        assert inputs.skipped == [] and len(files) == 5
        sent = client.post("/api/uploads", headers={"Authorization": f"Bearer {token['token']}"}, files=files)
        assert sent.status_code == 201, sent.text
        studies = {s["id"]: s["kind"] for s in sent.json()["studies"]}
        for study_id in studies:
            preread(services, study_id, heart_rate_bpm=72.0)
        rad = _login(browser, url, "rad_demo", "/worklist")
        rad.wait_for_selector("#rows tr")
        assert rad.locator("#rows tr").count() == sum(k == "dicom" for k in studies.values())
        rad.keyboard.press("Enter")  # keyboard: open the selected (first) study
        rad.wait_for_selector("#stage[data-loaded=yes]")
        assert shot(rad, "demo-rad-image", "#stage").std() > 5
        card = _login(browser, url, "card_demo", "/worklist")
        card.wait_for_selector("#rows tr")
        card.locator("#rows tr a").first.click()
        card.wait_for_selector("#ecg[data-drawn=yes]")
        assert shot(card, "demo-card-ecg", "#ecg").std() > 10
        tech = _login(browser, url, "tech_demo", "/clinic")
        tech.wait_for_selector("#rows tr")
        assert tech.locator("#rows tr").count() == len(studies)
