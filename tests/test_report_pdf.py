"""The signed report PDF: Chinese text that a real PDF tool (poppler) can extract, embedded font."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from sharedcenter.reports import pdf as pdf_module
from sharedcenter.reports.pdf import DEFAULT_FONT_PATH, ReportDocument, register_chinese_font, render_report_pdf

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None,
    reason="poppler-utils (pdftotext, pdfinfo) not installed",
)
needs_font = pytest.mark.skipif(not DEFAULT_FONT_PATH.is_file(), reason=f"{DEFAULT_FONT_PATH} not installed")


@pytest.fixture
def document() -> ReportDocument:
    return ReportDocument(
        center_name="示范县人民医院远程影像诊断中心",
        site_name="示范镇卫生院",
        patient_id="P20250301-007",
        patient_name="张三",
        exam_label="DX 胸部正位",
        study_uid_or_key="1.2.826.0.1.3680043.8.498.1",
        received_at=dt.datetime(2025, 3, 1, 1, 2, tzinfo=dt.UTC),
        findings="双肺纹理清晰，未见实变影。\n心影大小、形态正常。",
        impression="胸部正位片未见明显异常。",
        ai_summary="【AI 预阅，仅供参考，须经医师审核】未提示异常。",
        signer_name="李医生",
        signed_at=dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC),
        report_id=42,
        version=1,
        verification_url="https://center.example.cn/api/reports/42",
    )


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return " ".join(result.stdout.decode("utf-8").split())


def pdf_info(pdf: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(["pdfinfo", "-enc", "UTF-8", str(path)], capture_output=True, check=True)
    lines = result.stdout.decode("utf-8").splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_all_names_exist() -> None:
    for name in pdf_module.__all__:
        assert hasattr(pdf_module, name), name


def test_is_a_pdf(document: ReportDocument) -> None:
    pdf = render_report_pdf(document)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")


@needs_poppler
@needs_font
def test_chinese_text_comes_out(document: ReportDocument, tmp_path: Path) -> None:
    text = pdf_text(render_report_pdf(document), tmp_path)
    for expected in [
        "远程诊断报告",
        "示范县人民医院远程影像诊断中心",
        "检查信息",
        "所见",
        "诊断意见",
        "AI 预阅摘要",
        "仅供参考",
        "张三",
        "P20250301-007",
        "示范镇卫生院",
        "DX 胸部正位",
        "双肺纹理清晰，未见实变影。",
        "胸部正位片未见明显异常。",
        "李医生",
        "https://center.example.cn/api/reports/42",
    ]:
        assert expected in text, expected


@needs_poppler
@needs_font
def test_times_are_shown_in_china_standard_time(document: ReportDocument, tmp_path: Path) -> None:
    text = pdf_text(render_report_pdf(document), tmp_path)
    assert "2025-03-01 10:30" in text  # signed 02:30 UTC
    assert "2025-03-01 09:02" in text  # received 01:02 UTC
    naive = dataclasses.replace(document, signed_at=dt.datetime(2025, 3, 1, 2, 30), received_at=None)
    text = pdf_text(render_report_pdf(naive), tmp_path)
    assert "2025-03-01 10:30" in text and "—" in text


@needs_poppler
def test_metadata(document: ReportDocument, tmp_path: Path) -> None:
    info = pdf_info(render_report_pdf(document), tmp_path)
    assert info["Title"] == "远程诊断报告 42"
    assert info["Author"] == "李医生"
    assert "DX 胸部正位" in info["Subject"] and "P20250301-007" in info["Subject"]
    assert info["Pages"] == "1"
    assert info["Page size"].endswith("(A4)")
    assert "2025" in info["CreationDate"]


@needs_font
def test_font_is_embedded(document: ReportDocument) -> None:
    pdf = render_report_pdf(document)
    assert b"WenQuanYiZenHei" in pdf and b"/FontFile2" in pdf


def test_same_document_same_bytes(document: ReportDocument) -> None:
    first = render_report_pdf(document)
    assert render_report_pdf(document) == first
    assert render_report_pdf(dataclasses.replace(document, impression="右下肺炎症。")) != first


@needs_poppler
@needs_font
def test_markup_in_text_is_shown_literally(document: ReportDocument, tmp_path: Path) -> None:
    tricky = dataclasses.replace(document, findings="<b>粗体</b> & <font size=40>大</font>", ai_summary="")
    text = pdf_text(render_report_pdf(tricky), tmp_path)
    assert "<b>粗体</b> & <font size=40>大</font>" in text
    assert "无" in text  # empty AI summary


def test_fallback_font_logs_a_warning(
    document: ReportDocument, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-font.ttc"
    with caplog.at_level(logging.WARNING, logger="sharedcenter.reports.pdf"):
        assert register_chinese_font(missing) == "STSong-Light"
    assert "not embedded" in caplog.text
    assert render_report_pdf(document, font_path=missing).startswith(b"%PDF-")


@needs_poppler
@needs_font
def test_long_findings_flow_onto_more_pages(document: ReportDocument, tmp_path: Path) -> None:
    long = dataclasses.replace(document, findings="双肺纹理清晰。" * 600)
    info = pdf_info(render_report_pdf(long), tmp_path)
    assert int(info["Pages"]) > 1
