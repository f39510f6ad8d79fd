"""Render a signed report as a one-page A4 PDF in Chinese (reportlab platypus).

The Chinese font is embedded: WenQuanYi Zen Hei (``fonts-wqy-zenhei``) is registered as a TrueType
subfont when the file is there.  Without it the report falls back to reportlab's built-in CID font
``STSong-Light``, which is *not* embedded: the glyphs then depend on the reader's fonts, and a
warning is logged.  Output is deterministic (reportlab's invariant mode, with the creation date set
to the signing time): the same document gives the same bytes, so a signed PDF's hash can be
recomputed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Flowable, HRFlowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

__all__ = ["CHINA_STANDARD_TIME", "DEFAULT_FONT_PATH", "ReportDocument", "register_chinese_font", "render_report_pdf"]

logger = logging.getLogger(__name__)

#: WenQuanYi Zen Hei, from Debian's ``fonts-wqy-zenhei``.
DEFAULT_FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
#: China Standard Time (UTC+8, no daylight saving): the time zone the report shows.
CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
_EMBEDDED_FONT = "WenQuanYiZenHei"
_CID_FONT = "STSong-Light"
_TITLE = "远程诊断报告"


@dataclasses.dataclass(frozen=True, slots=True)
class ReportDocument:
    """What a signed report shows.  Naive datetimes are taken as UTC (the database stores UTC)."""

    center_name: str
    site_name: str
    patient_id: str
    patient_name: str
    exam_label: str
    study_uid_or_key: str
    received_at: dt.datetime | None
    findings: str
    impression: str
    ai_summary: str
    signer_name: str
    signed_at: dt.datetime
    report_id: int | str
    version: int
    verification_url: str
    #: the recognition mark (e.g. ``"HR"``) when the examination is recognized region-wide
    recognition_mark: str | None = None
    #: a key image or ECG rhythm strip (PNG)
    figure_png: bytes | None = None
    figure_caption: str = ""
    amendment_reason: str | None = None
    #: the signer's certificate, as shown (subject and serial)
    certificate_label: str = ""


@functools.cache
def register_chinese_font(path: Path = DEFAULT_FONT_PATH) -> str:
    """Register a Chinese font with reportlab once and return its name.

    Parameters
    ----------
    path
        A TrueType collection or font; its first subfont is embedded (as a subset).

    Returns
    -------
    str
        The embedded font's name, or ``"STSong-Light"`` (not embedded) when ``path`` is missing
        or unreadable.
    """
    if path.is_file():
        try:
            pdfmetrics.registerFont(TTFont(_EMBEDDED_FONT, str(path), subfontIndex=0))
        except (OSError, TTFError) as exc:
            logger.warning("cannot load font %s (%s); falling back to %s", path, exc, _CID_FONT)
        else:
            return _EMBEDDED_FONT
    else:
        logger.warning(
            "font %s not found: using %s, which is not embedded, so the report's glyphs depend on the "
            "PDF reader's fonts (install fonts-wqy-zenhei)",
            path,
            _CID_FONT,
        )
    pdfmetrics.registerFont(UnicodeCIDFont(_CID_FONT))
    return _CID_FONT


def render_report_pdf(doc: ReportDocument, *, font_path: Path = DEFAULT_FONT_PATH) -> bytes:
    """Render ``doc`` as an A4 hospital-style report.

    Parameters
    ----------
    doc
        The signed report's content.
    font_path
        The Chinese font to embed; see :func:`register_chinese_font`.

    Returns
    -------
    bytes
        The PDF, with title, author (the signer) and subject set in its metadata.
    """
    font = register_chinese_font(font_path)
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"{_TITLE} {doc.report_id}",
        author=doc.signer_name,
        subject=f"{doc.exam_label} · {doc.patient_id} · 第 {doc.version} 版",
        creator="sharedcenter",
        invariant=True,
    )
    stamp = _pdf_date(doc.signed_at)
    template.build(_story(doc, _styles(font)), onFirstPage=lambda canvas, _doc: canvas.setDateFormatter(stamp))
    return buffer.getvalue()


def _pdf_date(value: dt.datetime) -> Callable[..., str]:
    """A reportlab date formatter that stamps the PDF's creation date with the signing time."""
    aware = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(CHINA_STANDARD_TIME)
    text = aware.strftime("D:%Y%m%d%H%M%S+08'00'")
    return lambda *_parts: text


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=16, wordWrap="CJK")
    return {
        "body": base,
        "center": ParagraphStyle("center", parent=base, fontSize=13, leading=18, alignment=TA_CENTER),
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=TA_CENTER),
        "heading": ParagraphStyle("heading", parent=base, fontSize=12.5, leading=20, spaceBefore=8),
        "note": ParagraphStyle("note", parent=base, fontSize=9, leading=13, textColor=colors.grey),
        "mark": ParagraphStyle("mark", parent=base, fontSize=16, leading=20, alignment=TA_CENTER,
                               textColor=colors.darkred),
    }


def _story(doc: ReportDocument, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The report's flowables, top to bottom."""
    return [
        _header(doc, styles),
        HRFlowable(width="100%", thickness=1.2, color=colors.black, spaceAfter=4),
        Paragraph("检查信息", styles["heading"]),
        _exam_table(doc, styles["body"]),
        *_figure(doc, styles),
        *_section("所见", doc.findings, styles),
        *_section("诊断意见", doc.impression, styles),
        *(_section("更正说明", doc.amendment_reason, styles) if doc.amendment_reason else []),
        *_section("AI 预阅摘要（人工智能初步结果，仅供参考，非诊断结论）", doc.ai_summary, styles, note=True),
        Spacer(1, 6 * mm),
        HRFlowable(width="100%", thickness=0.6, color=colors.black, spaceAfter=4),
        _signature_block(doc, styles),
    ]


def _header(doc: ReportDocument, styles: dict[str, ParagraphStyle]) -> Table:
    """Center name and title in the middle; the recognition mark, when given, at the right."""
    mark = Paragraph(f"<b>{_text(doc.recognition_mark)}</b><br/>互认", styles["mark"]) if doc.recognition_mark else ""
    title = [Paragraph(_text(doc.center_name), styles["center"]), Paragraph(_TITLE, styles["title"])]
    table = Table([["", title, mark]], colWidths=[24 * mm, 126 * mm, 24 * mm])
    style: list[tuple[Any, ...]] = [("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
    if doc.recognition_mark:
        style.append(("BOX", (2, 0), (2, 0), 1.5, colors.darkred))
    table.setStyle(TableStyle(style))
    return table


def _figure(doc: ReportDocument, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    if doc.figure_png is None:
        return []
    image = Image(io.BytesIO(doc.figure_png))
    scale = min(170 * mm / image.imageWidth, 60 * mm / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    return [Paragraph(_text(doc.figure_caption or "关键图像"), styles["heading"]), image]


def _qr(url: str, size: float = 28 * mm) -> Drawing:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def _signature_block(doc: ReportDocument, styles: dict[str, ParagraphStyle]) -> Table:
    lines = [
        Paragraph(f"报告医师：{_text(doc.signer_name)}　　签署时间：{_when(doc.signed_at)}", styles["body"]),
        Paragraph(f"报告编号：{_text(str(doc.report_id))}　　版本：第 {doc.version} 版", styles["body"]),
        *([Paragraph(f"签名证书：{_text(doc.certificate_label)}", styles["note"])] if doc.certificate_label else []),
        Paragraph(f"验证地址：{_text(doc.verification_url)}", styles["note"]),
        Paragraph("本报告经医师电子签名（PAdES）；扫描右侧二维码或访问验证地址核验报告真伪。", styles["note"]),
    ]
    if doc.recognition_mark:
        notice = "本检查（图像或波形及其规范化所见）在区域内互认，诊断结论由接诊医师结合病情判断。"
        lines.append(Paragraph(f"互认标识 {_text(doc.recognition_mark)}：{notice}", styles["note"]))
    table = Table([[lines, _qr(doc.verification_url)]], colWidths=[142 * mm, 32 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _exam_table(doc: ReportDocument, style: ParagraphStyle) -> Table:
    rows = [
        ("患者编号", doc.patient_id, "姓名", doc.patient_name),
        ("送检单位", doc.site_name, "检查项目", doc.exam_label),
        ("接收时间", _when(doc.received_at), "诊断中心", doc.center_name),
        ("检查标识", doc.study_uid_or_key, "", ""),
    ]
    cells = [[Paragraph(_text(value), style) for value in row] for row in rows]
    table = Table(cells, colWidths=[22 * mm, 63 * mm, 22 * mm, 67 * mm])
    table.setStyle(
        TableStyle(
            [
                ("SPAN", (1, 3), (3, 3)),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                ("BACKGROUND", (2, 0), (2, -2), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _section(title: str, body: str, styles: dict[str, ParagraphStyle], *, note: bool = False) -> list[Flowable]:
    style = styles["note"] if note else styles["body"]
    return [Paragraph(_text(title), styles["heading"]), Paragraph(_text(body) or "无", style)]


def _text(value: str) -> str:
    """Escape for reportlab's mini-markup and keep line breaks."""
    return escape(value.strip()).replace("\n", "<br/>")


def _when(value: dt.datetime | None) -> str:
    """A datetime as China Standard Time, ``YYYY-MM-DD HH:MM``; naive values are UTC."""
    if value is None:
        return "—"
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")
