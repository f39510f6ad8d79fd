"""The reading station and the clinic pages in a real browser: log in, worklist order, claim, view a
chest X-ray and an ECG (screenshots, not blank), edit, sign with the password asked again, the
clinic finds the signed report; two readers cannot sign the same study."""

from __future__ import annotations

from typing import Any

import pytest

from sharedcenter.services import Services
from tests.browser.conftest import login_page, shot
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_worklist_order_and_live_claims(browser: Any, station: dict[str, Any]) -> None:
    ids = station["ids"]
    page = login_page(browser, station["url"], "rad")
    page.wait_for_selector("#rows tr")
    order = [int(x) for x in page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert order == [ids["ct"], ids["cxr"]]  # critical first
    assert "critical" in (page.locator("#rows tr").first.get_attribute("class") or "")
    assert page.locator("#rows tr .countdown").first.inner_text()
    other = login_page(browser, station["url"], "admin")  # admin sees every worklist
    other.goto(f"{station['url']}/read/{ids['cxr']}")  # admin is no reader: no claim taken
    page.goto(f"{station['url']}/read/{ids['cxr']}")
    page.wait_for_selector("#claim:not(:empty)")
    other.goto(f"{station['url']}/worklist")
    other.wait_for_function(
        f"document.querySelector('tr[data-id=\"{ids['cxr']}\"] .reader')?.textContent.includes('rad 医生')",
        timeout=15000)
    shot(other, "worklist-admin")


def test_chest_xray_viewer(browser: Any, station: dict[str, Any]) -> None:
    page = login_page(browser, station["url"], "rad")
    page.goto(f"{station['url']}/read/{station['ids']['cxr']}")
    page.wait_for_selector("#stage[data-loaded=yes]")
    pixels = shot(page, "cxr-default", "#stage")
    assert pixels.std() > 20, "the image stage looks blank"
    page.keyboard.press("1")  # lung preset
    page.wait_for_function("document.getElementById('image').src.includes('preset=lung')")
    page.click("#heatmap")
    assert page.locator("#overlay").is_visible()
    page.click("#measure")
    box = page.locator("#stage").bounding_box()
    page.mouse.click(box["x"] + 200, box["y"] + 200)
    page.mouse.click(box["x"] + 400, box["y"] + 200)
    assert page.locator("#measure-out").inner_text().endswith(("mm", "px"))
    shot(page, "cxr-lung-heatmap", "#stage")
    assert page.evaluate("window.__firstImageMs") < 1000


def test_ecg_viewer(browser: Any, station: dict[str, Any]) -> None:
    page = login_page(browser, station["url"], "card")
    page.goto(f"{station['url']}/read/{station['ids']['ecg']}")
    page.wait_for_selector("#ecg[data-drawn=yes]")
    pixels = shot(page, "ecg-12lead", "#ecg")
    assert pixels.std() > 10 and (pixels < 60).mean() > 0.003, "no tracing on the ECG paper"
    assert "72" in page.locator("#ai").inner_text()
    page.click("#calipers")
    box = page.locator("#ecg").bounding_box()
    page.mouse.click(box["x"] + 200, box["y"] + 100)
    page.mouse.click(box["x"] + 300, box["y"] + 100)  # 100 px at 4 px/mm, 25 mm/s = 1000 ms
    assert page.locator("#caliper-out").inner_text().startswith("Δt 1000 ms")
    page.select_option("#gain", "20")
    page.select_option("#speed", "50")
    shot(page, "ecg-gain20-speed50", "#ecg")
    assert page.evaluate("window.__firstTracingMs") < 1000


def test_edit_sign_and_the_clinic_finds_the_report(browser: Any, station: dict[str, Any]) -> None:
    study_id = station["ids"]["ecg"]
    page = login_page(browser, station["url"], "card")
    page.goto(f"{station['url']}/read/{study_id}")
    page.wait_for_selector("#claim:not(:empty)")
    rate = page.locator("input[name=heart_rate]")
    assert rate.input_value() == "72" and page.locator(".field.ai-filled").count() >= 1
    page.select_option("#phrases", "正常心电图。")  # the phrase goes to the impression by default
    page.click("#save")
    page.wait_for_selector("#editor-status:not(:empty)")
    page.click("#sign")
    page.fill("#sign-password", "wrong-password")
    page.click("#sign-ok")
    page.wait_for_selector("#sign-error:not(:empty)")
    page.fill("#sign-password", PASSWORD)
    page.click("#sign-ok")
    page.wait_for_function("document.getElementById('editor-status').textContent.includes('签发')")
    clinic = login_page(browser, station["url"], "tech")
    clinic.wait_for_selector(f"tr[data-id='{study_id}'] .report")
    assert "正常心电图" in clinic.locator(f"tr[data-id='{study_id}'] .report").inner_text()
    href = clinic.locator(f"tr[data-id='{study_id}'] .report a").get_attribute("href")
    assert clinic.request.get(f"{station['url']}{href}").body().startswith(b"%PDF")
    shot(clinic, "clinic-signed")


def test_two_readers_cannot_sign_the_same_study(browser: Any, station: dict[str, Any], services: Services) -> None:
    from sharedcenter.auth import create_user

    with services.db.session() as session:
        create_user(session, "rad_b", PASSWORD, "radiologist", center_code="c01-img", display_name="第二位医生")
    study_id = station["ids"]["cxr"]
    first = login_page(browser, station["url"], "rad")
    first.goto(f"{station['url']}/read/{study_id}")
    first.wait_for_selector("#claim:not(:empty)")
    second = login_page(browser, station["url"], "rad_b")
    second.goto(f"{station['url']}/read/{study_id}")
    second.wait_for_selector("#claim.other")
    assert "rad 医生" in second.locator("#claim").inner_text()
    assert second.locator("#sign").is_disabled()
    forced = second.request.post(f"{station['url']}/api/station/studies/{study_id}/sign",
                                 data={"impression": "x", "password": PASSWORD})
    assert forced.status == 409
    shot(second, "claimed-by-other")


def test_return_and_escalate_reach_clinic_and_city(browser: Any, station: dict[str, Any], services: Services) -> None:
    from tests.station_helpers import add_city_expert

    add_city_expert(services)
    page = login_page(browser, station["url"], "rad")
    page.goto(f"{station['url']}/read/{station['ids']['ct']}")
    page.wait_for_selector("#claim:not(:empty)")
    page.click("#escalate")
    page.fill("#text-value", "请市中心会诊")
    page.click("#text-ok")
    page.wait_for_function("document.getElementById('state').textContent === '已上转会诊'")
    expert = login_page(browser, station["url"], "city_rad")
    expert.goto(f"{station['url']}/consultations")
    expert.wait_for_selector("#open textarea")
    expert.fill("#open textarea", "考虑良性病变")
    expert.click("#open button")
    expert.wait_for_function("document.getElementById('all').textContent.includes('考虑良性病变')")
    page.goto(f"{station['url']}/read/{station['ids']['cxr']}")
    page.wait_for_selector("#claim:not(:empty)")
    page.click("#return")
    page.fill("#text-value", "体位不正，请重拍")
    page.click("#text-ok")
    page.wait_for_function("document.getElementById('state').textContent === '已退回'")
    clinic = login_page(browser, station["url"], "tech")
    clinic.wait_for_selector(".retake")
    assert "体位不正" in clinic.locator("#retakes").inner_text()


def test_english_switch_and_keyboard_login(browser: Any, station: dict[str, Any]) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{station['url']}/")
    assert "阅片工作站" in page.content()
    page.click("#lang")
    page.wait_for_selector("text=Reading Station")
    page.keyboard.type("tech")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/clinic")
    assert "Our studies" in page.content()
