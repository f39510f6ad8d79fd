"""Worklist page server time with 100,000 studies in PostgreSQL, and open-study-to-first-image time.

Creates its own scratch database on the PostgreSQL server (default
``postgresql+psycopg://postgres@127.0.0.1:5432/``, database ``sc_bench_worklist_<pid>``), migrates
it, loads the example region, fills it with ``--studies`` studies spread over every site (about a
third still open, 1 % critical, a few claimed), serves the real API with uvicorn in a thread and
times, for the county imaging center's radiologist:

* ``page``: ``GET /api/station/worklist`` (100 rows, first page, over HTTP: authentication, query
  with claims, countdowns, JSON, ETag);
* ``baseline``: the bare indexed ``SELECT`` of the same 100 rows in the same order, on the same
  database, in the same run;
* open study -> first picture: ``GET /api/station/studies/{id}/images`` then the first frame PNG of
  a real 1955x1841 CR chest radiograph (cold: the decoded-frame cache emptied first), and
  ``GET /api/station/studies/{id}/ecg`` for a simulated 10 s 12-lead ECG.

The scratch database is dropped at the end.

    .venv/bin/python bench/worklist.py [--studies 100000] [--rounds 200] [--server URL]

Goals (issue 6): worklist page under 300 ms; open study to first image / tracing under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from sharedcenter.api import create_app  # noqa: E402
from sharedcenter.auth import create_user  # noqa: E402
from sharedcenter.config import load_settings  # noqa: E402
from sharedcenter.db import Site, Study, User  # noqa: E402
from sharedcenter.enums import Priority, StudyState  # noqa: E402
from sharedcenter.region import load_region, read_region  # noqa: E402
from sharedcenter.services import Services  # noqa: E402
from tests.utils import simulated_wfdb  # noqa: E402

PASSWORD = "bench-pass-2026"
STATES = [s.value for s in StudyState]


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def _rows(sites: list[Site], n: int, reader_id: int) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    rng = random.Random(6)
    out = []
    for i in range(n):
        site = sites[i % len(sites)]
        ecg = rng.random() < 0.5
        priority = rng.choices(list(Priority), weights=[2, 10, 88])[0]
        received = now - dt.timedelta(minutes=rng.uniform(0, 60 * 24 * 60))
        state = rng.choice(["received", "preread", "in_review"]) if rng.random() < 0.33 else "signed"
        claimed = state != "signed" and rng.random() < 0.02
        out.append({
            "kind": "ecg" if ecg else "dicom", "state": state, "site_code": site.code,
            "center_code": site.ecg_center_code if ecg else site.imaging_center_code,
            "patient_id": f"P{rng.randrange(10**7):07d}", "patient_name": "测试患者",
            "modality": "ECG" if ecg else "CR", "description": "bench", "critical": rng.random() < 0.01,
            "priority": priority.value, "priority_rank": priority.rank, "instance_count": 1, "complete": True,
            "due_at": received + dt.timedelta(hours=24), "received_at": received, "updated_at": received,
            "source": "upload", "claimed_by_id": reader_id if claimed else None,
            "claimed_until": now + dt.timedelta(minutes=10) if claimed else None,
        })
    return out


def fill(services: Services, n: int) -> None:
    with services.db.session() as session:
        load_region(session, read_region(services.settings.region_file))
    with services.db.session() as session:
        reader = create_user(session, "bench_rad", PASSWORD, "radiologist", center_code="c01-img")
        create_user(session, "bench_card", PASSWORD, "cardiologist", center_code="c01-ecg")
        create_user(session, "bench_tech", PASSWORD, "technician", site_code="c01-t01")
        sites = list(session.scalars(select(Site).order_by(Site.code)))
        reader_id = reader.id
    rows = _rows(sites, n, reader_id)
    with services.db.engine.begin() as conn:
        for start in range(0, n, 10_000):
            conn.execute(insert(Study), rows[start:start + 10_000])
        conn.execute(text("ANALYZE studies"))


def _token(client: httpx.Client, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _baseline(services: Services) -> float:
    open_states = ["received", "prereading", "preread", "in_review", "escalated", "failed"]
    query = (select(Study).where(Study.center_code == "c01-img", Study.kind == "dicom", Study.state.in_(open_states))
             .order_by(Study.critical.desc(), Study.priority_rank, Study.due_at, Study.id).limit(100))
    start = time.perf_counter()
    with services.db.session() as session:
        rows = list(session.execute(query))
    assert len(rows) == 100
    return time.perf_counter() - start


def time_worklist(services: Services, client: httpx.Client, rounds: int) -> dict[str, float]:
    headers = _token(client, "bench_rad")
    page, base = [], []
    for _ in range(10):  # warm both paths
        client.get("/api/station/worklist", headers=headers)
        _baseline(services)
    for _ in range(rounds):
        start = time.perf_counter()
        r = client.get("/api/station/worklist", headers=headers)
        page.append(time.perf_counter() - start)
        assert r.status_code == 200 and len(r.json()["studies"]) == 100
        base.append(_baseline(services))
    return {"page_p50_ms": _p(page, 50), "page_p95_ms": _p(page, 95),
            "baseline_p50_ms": _p(base, 50), "baseline_p95_ms": _p(base, 95)}


def _upload(client: httpx.Client, headers: dict[str, str], files: dict[str, bytes]) -> int:
    r = client.post("/api/uploads", headers=headers, files=[("files", (n, b)) for n, b in files.items()])
    r.raise_for_status()
    return int(r.json()["studies"][0]["id"])


def time_open(app_state: Any, client: httpx.Client, rounds: int) -> dict[str, float]:
    cxr = (ROOT.parent / "shared" / "data" / "cxr_dicom_samples" / "RG1_UNCR.dcm").read_bytes()
    tech = _token(client, "bench_tech")
    image_id = _upload(client, tech, {"cxr.dcm": cxr})
    with tempfile.TemporaryDirectory() as tmp:
        ecg_id = _upload(client, tech, simulated_wfdb(Path(tmp)))
    rad, card = _token(client, "bench_rad"), _token(client, "bench_card")
    image, ecg = [], []
    for _ in range(rounds):
        app_state.frame_cache = None  # cold: the frames are fetched and decoded again
        start = time.perf_counter()
        client.get(f"/api/station/studies/{image_id}", headers=rad).raise_for_status()
        client.get(f"/api/station/studies/{image_id}/images", headers=rad).raise_for_status()
        png = client.get(f"/api/station/studies/{image_id}/images/0/frames/0.png", headers=rad,
                         params={"size": 1280})
        image.append(time.perf_counter() - start)
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        start = time.perf_counter()
        client.get(f"/api/station/studies/{ecg_id}", headers=card).raise_for_status()
        wave = client.get(f"/api/station/studies/{ecg_id}/ecg", headers=card)
        ecg.append(time.perf_counter() - start)
        assert wave.status_code == 200 and len(wave.json()["samples"]["II"]) == 5000
    return {"open_image_p50_ms": _p(image, 50), "open_image_p95_ms": _p(image, 95),
            "open_ecg_p50_ms": _p(ecg, 50), "open_ecg_p95_ms": _p(ecg, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/")
    args = parser.parse_args()
    name = f"sc_bench_worklist_{os.getpid()}"
    admin = create_engine(args.server + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(env="test", data_dir=Path(tmp), secret_key="bench-secret-key",
                                     database_url=args.server + name)
            run(settings, args)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(settings: Any, args: argparse.Namespace) -> None:
    services = Services.from_settings(settings)
    try:
        services.db.upgrade()
        start = time.perf_counter()
        fill(services, args.studies)
        with services.db.session() as session:
            total = session.scalar(select(Study.id).order_by(Study.id.desc()).limit(1))
            readers = session.scalar(select(User.id).where(User.username == "bench_rad"))
        print(f"filled {total} studies in {time.perf_counter() - start:.1f} s (reader id {readers})")
        app = create_app(services, background=False)
        with _serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
            worklist = time_worklist(services, client, args.rounds)
            opened = time_open(app.state, client, max(10, args.rounds // 10))
        _report(worklist, opened)
    finally:
        services.close()


@contextlib.contextmanager
def _serve(app: Any) -> Iterator[str]:
    """The app on a free loopback port, served by uvicorn in a thread of this process."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _report(worklist: dict[str, float], opened: dict[str, float]) -> None:
    ratio50 = worklist["page_p50_ms"] / worklist["baseline_p50_ms"]
    ratio95 = worklist["page_p95_ms"] / worklist["baseline_p95_ms"]
    print(f"worklist page  p50 {worklist['page_p50_ms']:7.1f} ms  p95 {worklist['page_p95_ms']:7.1f} ms"
          f"   (goal < 300 ms)")
    print(f"bare SELECT    p50 {worklist['baseline_p50_ms']:7.1f} ms  p95 {worklist['baseline_p95_ms']:7.1f} ms")
    print(f"ratio page / SELECT: p50 {ratio50:.1f}x  p95 {ratio95:.1f}x")
    print(f"open CXR -> first frame PNG (cold)  p50 {opened['open_image_p50_ms']:7.1f} ms  "
          f"p95 {opened['open_image_p95_ms']:7.1f} ms   (goal < 1000 ms)")
    print(f"open ECG -> waveform JSON           p50 {opened['open_ecg_p50_ms']:7.1f} ms  "
          f"p95 {opened['open_ecg_p95_ms']:7.1f} ms   (goal < 1000 ms)")


if __name__ == "__main__":
    main()
