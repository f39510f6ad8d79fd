"""``sharedcenter demo``: the whole pipeline on the embedded defaults, no servers needed.

Loads the example region and demo users, starts the API and a worker, sends bundled samples
through the HTTP API as a township technician, waits for the pre-reads, signs the ECG as the
demo cardiologist, and fetches the signed PDF as the clinic would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sharedcenter.auth import create_user
from sharedcenter.client import ApiClient
from sharedcenter.config import Settings
from sharedcenter.db import User
from sharedcenter.errors import ImproperlyConfigured, InvalidInput, SharedCenterError, UnsupportedFormat
from sharedcenter.region import load_region, read_region
from sharedcenter.services import Services
from sharedcenter.upload import Journal, collect, plan_batches, send_batches

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "demo_samples", "ensure_demo_users", "run_demo"]

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-pass-2026"
#: username, role, site, center, display name
DEMO_USERS = [
    ("tech_demo", "technician", "c01-t01", None, "城关镇卫生院 李技师"),
    ("rad_demo", "radiologist", None, "c01-img", "影像中心 王医生"),
    ("card_demo", "cardiologist", None, "c01-ecg", "心电中心 陈医生"),
    ("qc_demo", "qc", None, "city", "市中心 质控 赵老师"),
    ("city_rad_demo", "radiologist", None, "city", "市中心 影像会诊专家 孙主任"),
    ("admin_demo", "admin", None, "city", "管理员"),
]
_PENDING = {"received", "prereading"}
_SITE = "c01-t01"


def ensure_demo_users(services: Services) -> None:
    with services.db.session() as session:
        load_region(session, read_region(services.settings.region_file), actor="demo")
    with services.db.session() as session:
        for username, role, site, center, name in DEMO_USERS:
            if session.scalar(select(User).where(User.username == username)) is None:
                create_user(session, username, DEMO_PASSWORD, role, display_name=name, site_code=site,
                            center_code=center)


def demo_samples(folder: Path) -> list[Path]:
    """pydicom's test images and 12-lead waveform, and a neurokit2-simulated 12-lead ECG (WFDB)."""
    import neurokit2 as nk
    import numpy as np
    import wfdb
    from pydicom.data import get_testdata_file

    paths = [Path(str(get_testdata_file(n))) for n in ("CT_small.dcm", "MR_small.dcm", "waveform_ecg.dcm")]
    signal = nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=72, method="multileads", random_state=7)
    leads = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    wfdb.wrsamp("demo_ecg", fs=500, units=["mV"] * 12, sig_name=leads,
                p_signal=np.asarray(signal[leads], dtype=float), fmt=["16"] * 12, write_dir=str(folder),
                comments=["demo: neurokit2 ecg_simulate, multileads, 72 bpm"])
    return [*paths, folder / "demo_ecg.hea", folder / "demo_ecg.dat"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _api_server(services: Services, port: int) -> Iterator[str]:
    import uvicorn

    from sharedcenter.api import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ImproperlyConfigured(f"the API could not start on 127.0.0.1:{port} (port taken?)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def _worker_process(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SHAREDCENTER_DATA_DIR": str(settings.data_dir)}
    with (log_dir / "worker.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "sharedcenter", "worker", "--pool", "solo"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _upload_samples(client: ApiClient, url: str, folder: Path, journal_dir: Path) -> list[dict[str, Any]]:
    """Send the samples the way ``sharedcenter upload`` does; the studies the server answered.

    The resume journal lives under the demo's data dir (never the user's ``$XDG_STATE_HOME``) and is
    dropped afterwards: the samples are temporary, so there is nothing a later run could resume.
    """
    samples = demo_samples(folder)
    inputs = collect(samples)
    try:
        if inputs.skipped:
            raise UnsupportedFormat("demo samples not sent: " + "; ".join(
                f"{s.origin}: {s.reason}" for s in inputs.skipped))
        batches, _ = plan_batches(inputs.items)
        with Journal.for_upload(url, _SITE, samples, journal_dir) as journal:
            try:
                summary = send_batches(client.http, batches, _SITE, journal)
            finally:
                journal.discard()
    finally:
        inputs.close()
    if summary.stopped is not None:
        raise summary.stopped
    if summary.errors:
        raise InvalidInput("the server refused part of the demo samples: " + "; ".join(summary.errors))
    return list(summary.studies.values())


def _wait_for_prereads(client: ApiClient, site: str, ids: set[int], worker: subprocess.Popen[bytes],
                       timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        studies = [s for s in client.request("GET", "/api/studies", params={"site": site}) if s["id"] in ids]
        if all(s["state"] not in _PENDING for s in studies) or time.monotonic() > deadline:
            return studies
        if worker.poll() is not None:
            raise SharedCenterError(f"the demo worker exited with code {worker.returncode}; see var/logs")
        time.sleep(0.25)


def _sign_ecg(url: str, studies: list[dict[str, Any]]) -> None:
    card = ApiClient(url)
    card.login("card_demo", DEMO_PASSWORD)
    for s in studies:
        if s["kind"] == "ecg" and s["state"] == "preread":
            ai = card.request("GET", f"/api/studies/{s['id']}")["ai_results"]
            rate = ai[-1]["measurements"].get("heart_rate_bpm") if ai else None
            card.request("POST", f"/api/studies/{s['id']}/report", json={
                "findings": f"窦性心律，心率 {rate:.0f} 次/分。" if rate else "窦性心律。",
                "impression": "正常心电图。", })
            break
    card.close()


def _summary(url: str, studies: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    tech = ApiClient(url)
    tech.login("tech_demo", DEMO_PASSWORD)
    reports = {r["study_id"]: r for r in tech.request("GET", "/api/sites/c01-t01/reports")
               if r["status"] == "signed"}
    out = []
    for s in tech.request("GET", "/api/studies", params={"site": "c01-t01"}):
        if s["id"] not in {x["id"] for x in studies}:
            continue
        item: dict[str, Any] = {"study_id": s["id"], "kind": s["kind"], "state": s["state"]}
        if s["id"] in reports:
            pdf = tech.http.get(reports[s["id"]]["pdf_url"])
            pdf.raise_for_status()
            path = out_dir / f"report-{reports[s['id']]['id']}.pdf"
            path.write_bytes(pdf.content)
            item["report_pdf"] = str(path)
        out.append(item)
    tech.close()
    return {"studies": sorted(out, key=lambda x: x["study_id"])}


def run_demo(settings: Settings, port: int | None, once: bool, echo: Any) -> dict[str, Any]:
    """Run the demo; returns the summary.  ``echo`` prints a line for the person watching."""
    if settings.env == "prod":
        raise ImproperlyConfigured("the demo creates users with known passwords; refused with env=prod")
    services = Services.from_settings(settings)
    services.db.upgrade()
    ensure_demo_users(services)
    port = port or (_free_port() if once else 8000)
    out_dir = settings.data_dir / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    with _worker_process(settings) as worker, _api_server(services, port) as url, \
            tempfile.TemporaryDirectory() as tmp:
        tech = ApiClient(url)
        tech.login("tech_demo", DEMO_PASSWORD)
        uploaded = _upload_samples(tech, url, Path(tmp), out_dir / "uploads")
        tech.close()
        echo(f"uploaded {len(uploaded)} studies; waiting for the AI pre-reads ...")
        studies = _wait_for_prereads(_logged_in(url), _SITE,
                                     {s["id"] for s in uploaded}, worker)
        _sign_ecg(url, studies)
        summary = _summary(url, studies, out_dir)
        _announce(echo, url)
        if not once:
            _serve_forever(worker)
    return summary


def _logged_in(url: str) -> ApiClient:
    client = ApiClient(url)
    client.login("tech_demo", DEMO_PASSWORD)
    return client


def _announce(echo: Any, url: str) -> None:
    echo(f"reading station: {url}/   API docs: {url}/docs")
    for username, role, site, center, name in DEMO_USERS:
        echo(f"  {username:<11} {DEMO_PASSWORD}  {role:<12} {site or center}  {name}")


def _serve_forever(worker: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        while worker.poll() is None:
            time.sleep(0.5)
