"""Modality Worklist C-FIND latency with 500 orders, and last C-STORE -> pre-read queued with an
expected instance count against the StableAge fallback, each as a ratio against a baseline measured
in the same run.

* ``mwl``: 500 scheduled orders of one township over 10 days (embedded SQLite), the real
  ``WorklistServer`` on a loopback port, one association from the township's AE title; times a
  C-FIND for today's DX orders (what a DR room asks each morning, ~50 items) and one for all 500,
  against a C-ECHO round trip on the same association (the DICOM floor).
* ``complete``: a private Orthanc (``--stable-age`` s), the real API with its catch-up loop
  (``SHAREDCENTER_ORTHANC_SYNC_INTERVAL_S`` = ``--sync-interval``) and the doorbell script; two
  instances C-STOREd per study by pynetdicom.  A study whose order expects 2 instances is queued by
  the count (the loop reads the feed every ``SHAREDCENTER_ORTHANC_COUNT_POLL_S``, 1 s, while such orders
  are open); a study without an order waits for StableAge (and the doorbell).  Time is from the last C-STORE's response
  to the ``preread.queued`` audit event.

    .venv/bin/python bench/worklist_mwl.py [--rounds 30] [--studies 3] [--stable-age 10] [--sync-interval 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom import Dataset
from pynetdicom import AE
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sharedcenter.api import notify_token  # noqa: E402
from sharedcenter.auth import Principal, create_user  # noqa: E402
from sharedcenter.config import load_settings  # noqa: E402
from sharedcenter.db import AuditEvent, Study  # noqa: E402
from sharedcenter.mwl import WorklistServer  # noqa: E402
from sharedcenter.mwl.server import MODALITY_WORKLIST_FIND, VERIFICATION  # noqa: E402
from sharedcenter.orders import OrderRequest, create_order  # noqa: E402
from sharedcenter.region import load_region, read_region  # noqa: E402
from sharedcenter.services import Services  # noqa: E402
from tests.conftest import serve_api  # noqa: E402
from tests.servers import OrthancServer, c_store, free_port  # noqa: E402
from tests.utils import dicom_bytes  # noqa: E402


def _services(work: Path, **overrides: object) -> tuple[Services, Principal]:
    settings = load_settings(env="dev", data_dir=work / "var", **overrides)
    services = Services.from_settings(settings)
    services.db.upgrade()
    with services.db.session() as session:
        load_region(session, read_region(settings.region_file))
        admin = Principal.of(create_user(session, "bench_admin", "bench-password", "admin", center_code="city"))
    return services, admin


def _fill(services: Services, admin: Principal, n: int) -> None:
    today = dt.datetime.now(services.settings.tz).date()
    with services.db.session() as session:
        for i in range(n):
            day = today + dt.timedelta(days=i % 10)
            create_order(session, services.settings, admin, OrderRequest(
                site_code="c01-t01", patient_id=f"P{i:05d}", patient_name=f"PATIENT^{i:05d}",
                modality="DX" if i % 2 == 0 else "CT", accession_number=f"B{i:05d}", station_ae_title="C01T01DR",
                scheduled_at=dt.datetime.combine(day, dt.time(8 + i % 10)), patient_sex="MF"[i % 2],
                procedure_description="胸部正位"))


def _query(modality: str = "", date: str = "") -> Dataset:
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                    "RequestedProcedureDescription", "StudyInstanceUID"):
        setattr(ds, keyword, "")
    sps = Dataset()
    sps.Modality, sps.ScheduledProcedureStepStartDate = modality, date
    sps.ScheduledStationAETitle = sps.ScheduledProcedureStepStartTime = ""
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def bench_mwl(work: Path, rounds: int, orders: int) -> dict[str, float]:
    services, admin = _services(work)
    _fill(services, admin, orders)
    server = WorklistServer(services.db, services.settings, port=0)
    server.start()
    ae = AE(ae_title="C01T01DR")
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCMWL")
    assert assoc.is_established
    today = dt.datetime.now(services.settings.tz).strftime("%Y%m%d")
    timings: dict[str, list[float]] = {"echo": [], "find_today_dx": [], "find_all": []}
    counts: dict[str, int] = {}
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            assert int(assoc.send_c_echo().Status) == 0
            timings["echo"].append(time.perf_counter() - start)
            for name, query in (("find_today_dx", _query("DX", today)), ("find_all", _query())):
                start = time.perf_counter()
                n = sum(1 for status, item in assoc.send_c_find(query, MODALITY_WORKLIST_FIND) if item is not None)
                timings[name].append(time.perf_counter() - start)
                counts[name] = n
    finally:
        assoc.release()
        server.stop()
        services.close()
    med = {k: statistics.median(v) * 1000 for k, v in timings.items()}
    for name in ("find_today_dx", "find_all"):
        print(f"MWL C-FIND {name}: {counts[name]} items, median {med[name]:.1f} ms "
              f"= {med[name] / med['echo']:.1f} x C-ECHO ({med['echo']:.2f} ms)")
    return {**{f"{k}_ms": round(v, 2) for k, v in med.items()}, **{f"{k}_items": v for k, v in counts.items()}}


def _queued_at(services: Services, uid: str, deadline: float) -> dt.datetime:
    while time.monotonic() < deadline:
        with services.db.session() as session:
            at = session.scalar(select(AuditEvent.at).join(Study, AuditEvent.study_id == Study.id).where(
                Study.study_instance_uid == uid, AuditEvent.action == "preread.queued"))
        if at is not None:
            return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        time.sleep(0.05)
    raise TimeoutError(f"study {uid} was never queued")


def bench_complete(work: Path, studies: int, stable_age: int, sync_interval: float) -> dict[str, float]:
    port = free_port()
    probe = load_settings(env="dev", data_dir=work / "var")
    orthanc = OrthancServer(work / "orthanc", notify_url=f"http://127.0.0.1:{port}/api/internal/dicom-store/changed",
                            notify_token=notify_token(probe), stable_age=stable_age)
    orthanc.start()
    services, admin = _services(work, dicom_store="orthanc", orthanc_url=orthanc.url, orthanc_user=orthanc.user,
                                orthanc_password=orthanc.password, orthanc_sync_interval_s=sync_interval,
                                orthanc_stable_age_s=stable_age)
    seconds: dict[str, list[float]] = {"expected_count": [], "stable": []}
    with services.db.session() as session:  # the day's orders are placed before the exams, as in the clinic
        for i in range(studies):
            create_order(session, services.settings, admin, OrderRequest(
                site_code="c01-t01", patient_id=f"Q{i}", patient_name="BENCH^PATIENT", modality="CT",
                accession_number=f"C{i}E", expected_instances=2))
    try:
        with serve_api(services, background=True, port=port):
            for i in range(studies):
                for way in seconds:
                    accession = f"C{i}{way[0]}".upper()  # C0E has its order; C0S has none
                    uid = pydicom.uid.generate_uid()
                    files = [pydicom.dcmread(io.BytesIO(dicom_bytes(study_uid=uid, AccessionNumber=accession)))
                             for _ in range(2)]
                    assert c_store(orthanc, "C01T01DR", files) == [0, 0]
                    sent = dt.datetime.now(dt.UTC)
                    at = _queued_at(services, uid, time.monotonic() + stable_age * 3 + 60)
                    seconds[way].append((at - sent).total_seconds())
    finally:
        orthanc.stop()
        services.close()
    med = {k: statistics.median(v) for k, v in seconds.items()}
    print(f"last C-STORE -> pre-read queued: expected count {med['expected_count']:.2f} s, StableAge fallback "
          f"{med['stable']:.2f} s (StableAge {stable_age} s, sync interval {sync_interval} s); "
          f"ratio counted/stable {med['expected_count'] / med['stable']:.3f}")
    return {"expected_count_s": round(med["expected_count"], 3), "stable_s": round(med["stable"], 3),
            "ratio_counted_to_stable": round(med["expected_count"] / med["stable"], 4), "runs": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--studies", type=int, default=3)
    parser.add_argument("--stable-age", type=int, default=10)
    parser.add_argument("--sync-interval", type=float, default=5.0)
    parser.add_argument("--only", choices=["mwl", "complete"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-mwl-"))
    out: dict[str, object] = {}
    if args.only in (None, "mwl"):
        out["mwl"] = bench_mwl(work / "mwl", args.rounds, args.orders)
    if args.only in (None, "complete"):
        out["complete"] = bench_complete(work / "complete", args.studies, args.stable_age, args.sync_interval)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
