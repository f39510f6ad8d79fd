"""The DICOM Modality Worklist SCP, queried by pynetdicom and by dcmtk's ``findscu`` (Debian dcmtk)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset
from pynetdicom import AE

from sharedcenter.auth import Principal
from sharedcenter.db import Site
from sharedcenter.mwl import WorklistServer
from sharedcenter.mwl.server import MODALITY_WORKLIST_FIND
from sharedcenter.orders import OrderRequest, cancel_order, create_order
from sharedcenter.services import Services
from tests.servers import _tcp_answers, free_port
from tests.utils.processes import poll, settings_env

TZ_DAY = dt.timedelta(days=1)


def _today(services: Services) -> dt.date:
    return dt.datetime.now(services.settings.tz).date()


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))  # naive: local time, as a technician types it


@pytest.fixture
def orders(services: Services, people: dict[str, Principal]) -> dict[str, int]:
    """Orders of c01-t01 (two scheduled, one cancelled) and one of c01-t02."""
    today = _today(services)
    specs = {
        "zhang": OrderRequest(site_code="c01-t01", patient_id="P001", patient_name="ZHANG^SAN", modality="DX",
                              scheduled_at=_at(today, 9), accession_number="A0001", station_ae_title="C01T01DR",
                              patient_birth_date=dt.date(1956, 3, 2), patient_sex="M",
                              procedure_description="胸部正位", expected_instances=1),
        "li": OrderRequest(site_code="c01-t01", patient_id="P002", patient_name="李^四", modality="CT",
                           scheduled_at=_at(today + TZ_DAY, 14), accession_number="A0002", station_ae_title="C01T01CT",
                           patient_sex="F"),
        "gone": OrderRequest(site_code="c01-t01", patient_id="P003", patient_name="WANG^WU", modality="DX",
                             scheduled_at=_at(today, 10), accession_number="A0003"),
        "other": OrderRequest(site_code="c01-t02", patient_id="P004", patient_name="ZHAO^LIU", modality="DX",
                              scheduled_at=_at(today, 9), accession_number="A0001"),
    }
    with services.db.session() as session:
        ids = {name: create_order(session, services.settings, people["admin"], spec).id
               for name, spec in specs.items()}
        cancel_order(session, people["admin"], ids["gone"], "patient left")
    return ids


@pytest.fixture
def scp(services: Services, orders: dict[str, int]) -> Iterator[WorklistServer]:
    server = WorklistServer(services.db, services.settings, ae_title="SCMWL", port=0)
    server.start()
    yield server
    server.stop()


def _identifier(**keys: str) -> Dataset:
    """A worklist query asking for the usual return keys, with ``keys`` as matching values."""
    sps_keys = {"Modality", "ScheduledStationAETitle", "ScheduledProcedureStepStartDate"}
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                    "RequestedProcedureDescription", "StudyInstanceUID"):
        setattr(ds, keyword, keys.get(keyword, ""))
    sps = Dataset()
    for keyword in sorted(sps_keys) + ["ScheduledProcedureStepStartTime", "ScheduledProcedureStepID"]:
        setattr(sps, keyword, keys.get(keyword, ""))
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def _find(server: WorklistServer, calling: str, identifier: Dataset) -> tuple[list[Dataset], list[int]]:
    ae = AE(ae_title=calling)
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCMWL")
    assert assoc.is_established, f"{calling} was not let in"
    items, statuses = [], []
    try:
        for status, item in assoc.send_c_find(identifier, MODALITY_WORKLIST_FIND):
            statuses.append(int(status.Status))
            if item is not None and int(status.Status) in (0xFF00, 0xFF01):
                items.append(item)
    finally:
        assoc.release()
    return items, statuses


def test_site_gets_its_scheduled_orders_with_the_standard_attributes(scp: WorklistServer, services: Services) -> None:
    items, statuses = _find(scp, "C01T01DR", _identifier())
    assert statuses[-1] == 0x0000
    by_accession = {str(i.AccessionNumber): i for i in items}
    assert sorted(by_accession) == ["A0001", "A0002"]  # not the cancelled order, not the other site's A0001
    zhang = by_accession["A0001"]
    assert (str(zhang.PatientName), zhang.PatientID, zhang.PatientBirthDate, zhang.PatientSex) == \
        ("ZHANG^SAN", "P001", "19560302", "M")
    assert zhang.RequestedProcedureDescription == "胸部正位"
    sps = zhang.ScheduledProcedureStepSequence[0]
    assert (sps.Modality, sps.ScheduledStationAETitle) == ("DX", "C01T01DR")
    assert sps.ScheduledProcedureStepStartDate == _today(services).strftime("%Y%m%d")
    assert sps.ScheduledProcedureStepStartTime == "090000"
    assert str(by_accession["A0002"].PatientName) == "李^四"  # UTF-8 (ISO_IR 192) both ways
    assert zhang.StudyInstanceUID != by_accession["A0002"].StudyInstanceUID
    assert "ReferringPhysicianName" not in zhang  # only what was asked for comes back


@pytest.mark.parametrize(("keys", "expected"), [
    ({"Modality": "CT"}, ["A0002"]),
    ({"ScheduledStationAETitle": "C01T01DR"}, ["A0001"]),
    ({"PatientName": "zhang*"}, ["A0001"]),
    ({"PatientName": "ZH?NG^SAN"}, ["A0001"]),
    ({"PatientName": "WANG*"}, []),  # cancelled
    ({"PatientID": "P002"}, ["A0002"]),
    ({"PatientID": "P00*"}, ["A0001", "A0002"]),
    ({"AccessionNumber": "A0001"}, ["A0001"]),
    ({"AccessionNumber": "A0004"}, []),
])
def test_matching_keys(scp: WorklistServer, keys: dict[str, str], expected: list[str]) -> None:
    items, _ = _find(scp, "C01T01DR", _identifier(**keys))
    assert sorted(str(i.AccessionNumber) for i in items) == expected


def test_date_ranges(scp: WorklistServer, services: Services) -> None:
    today, tomorrow = _today(services), _today(services) + TZ_DAY
    d = {"today": today.strftime("%Y%m%d"), "tomorrow": tomorrow.strftime("%Y%m%d"),
         "yesterday": (today - TZ_DAY).strftime("%Y%m%d")}
    cases = {d["today"]: ["A0001"], f"{d['tomorrow']}-": ["A0002"], f"-{d['today']}": ["A0001"],
             f"{d['yesterday']}-{d['tomorrow']}": ["A0001", "A0002"], d["yesterday"]: []}
    for value, expected in cases.items():
        items, _ = _find(scp, "C01T01DR", _identifier(ScheduledProcedureStepStartDate=value))
        assert sorted(str(i.AccessionNumber) for i in items) == expected, value


def test_bad_date_is_a_clear_failure(scp: WorklistServer) -> None:
    items, statuses = _find(scp, "C01T01DR", _identifier(ScheduledProcedureStepStartDate="20261201-20261101"))
    assert items == [] and statuses == [0xA900]


def test_other_site_sees_only_its_own(scp: WorklistServer) -> None:
    items, _ = _find(scp, "C01T02DR", _identifier())
    assert [(str(i.AccessionNumber), i.PatientID) for i in items] == [("A0001", "P004")]


def test_unknown_calling_ae_is_refused(scp: WorklistServer, services: Services) -> None:
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="SCMWL")
    assert assoc.is_rejected
    with services.db.session() as session:  # a site taken out of service is refused from then on
        site = session.get(Site, "c01-t02")
        assert site is not None
        site.active = False
    items, _ = _find(scp, "C01T01DR", _identifier())  # the others still get in
    assert items
    site_ae = AE(ae_title="C01T02DR")
    site_ae.add_requested_context(MODALITY_WORKLIST_FIND)
    assert site_ae.associate("127.0.0.1", scp.port, ae_title="SCMWL").is_rejected


def _findscu(port: int, calling: str, out: Path, *keys: str) -> subprocess.CompletedProcess[str]:
    out.mkdir(parents=True, exist_ok=True)
    argv = ["findscu", "-W", "-aet", calling, "-aec", "SCMWL", "-X", "-od", str(out)]
    for key in keys:
        argv += ["-k", key]
    return subprocess.run([*argv, "127.0.0.1", str(port)], capture_output=True, text=True, timeout=60)


def test_findscu_reads_the_worklist(scp: WorklistServer, services: Services, tmp_path: Path) -> None:
    today = _today(services).strftime("%Y%m%d")
    run = _findscu(scp.port, "C01T01DR", tmp_path / "rsp", "PatientName", "PatientID", "PatientBirthDate",
                   "PatientSex", "AccessionNumber", "SpecificCharacterSet",
                   "ScheduledProcedureStepSequence[0].Modality=DX",
                   f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={today}",
                   "ScheduledProcedureStepSequence[0].ScheduledStationAETitle")
    assert run.returncode == 0, run.stderr
    [path] = sorted((tmp_path / "rsp").glob("rsp*.dcm"))
    item = pydicom.dcmread(path)
    assert (str(item.PatientName), item.PatientID, item.AccessionNumber, item.PatientBirthDate) == \
        ("ZHANG^SAN", "P001", "A0001", "19560302")
    assert item.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "C01T01DR"


def test_findscu_from_an_unknown_ae_is_rejected(scp: WorklistServer, tmp_path: Path) -> None:
    run = _findscu(scp.port, "STRANGER", tmp_path / "rsp", "PatientName")
    assert run.returncode != 0
    assert "rejected" in (run.stdout + run.stderr).lower()
    assert list((tmp_path / "rsp").glob("rsp*.dcm")) == []


def test_mwl_serve_command(services: Services, orders: dict[str, int], tmp_path: Path) -> None:
    """``sharedcenter mwl serve`` as a real process, read by findscu, stopped by its PID."""
    port = free_port()
    log = tmp_path / "mwl.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "sharedcenter", "mwl", "serve", "--port", str(port),
                                 "--ae-title", "SCMWL"], stdout=fh, stderr=subprocess.STDOUT,
                                env=settings_env(services.settings))
    try:
        poll(lambda: proc.poll() is None and _tcp_answers("127.0.0.1", port), 60,
             f"mwl serve to listen (log: {log})")
        run = _findscu(port, "C01T01DR", tmp_path / "rsp", "AccessionNumber", "PatientID", "PatientName=ZHA*")
        assert run.returncode == 0, run.stderr
        found = [pydicom.dcmread(p) for p in sorted((tmp_path / "rsp").glob("rsp*.dcm"))]
        assert [(str(i.AccessionNumber), str(i.PatientName)) for i in found] == [("A0001", "ZHANG^SAN")]
        assert b"ZHA" not in log.read_bytes()  # pynetdicom's identifier dumps (patient data) stay out of the log
    finally:
        proc.terminate()
        proc.wait(timeout=20)
