"""Factories for the station tests: uploads, pre-reads, a city expert, a stored AI heatmap."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from sharedcenter.auth import create_user
from sharedcenter.services import Services
from sharedcenter.studies import record_preread
from tests.conftest import PASSWORD, login

__all__ = ["CXR", "add_city_expert", "ecg_preread", "heatmap_preread", "preread", "upload"]

#: pydicom-data's real CR chest radiograph (MONOCHROME1), from the shared data folder
CXR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cxr_dicom_samples" / "RG1_UNCR.dcm"


def upload(api: httpx.Client, who: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Upload as ``who``; the first study of the answer."""
    response = api.post("/api/uploads", headers=login(api, who),
                        files=[("files", (n, b, "application/octet-stream")) for n, b in files.items()])
    assert response.status_code in (200, 201), response.text
    study: dict[str, Any] = response.json()["studies"][0]
    return study


def preread(services: Services, study_id: int, *, critical: bool = False, **measurements: Any) -> None:
    """Store a pre-read as the worker would."""
    with services.db.session() as session:
        record_preread(session, study_id, {
            "algorithm": "test.algorithm", "version": "1", "measurements": measurements,
            "findings": [{"code": "test", "label": "Test finding", "label_zh": "测试所见", "flagged": critical,
                          "critical": critical}],
            "preliminary_text": "【AI 预阅，仅供参考】测试所见", "critical": critical})


def ecg_preread(services: Services, study_id: int, rate: float = 72.0) -> None:
    preread(services, study_id, heart_rate_bpm=rate, rr_cv=0.02)


def heatmap_preread(services: Services, study_id: int, sop_uid: str | None) -> bytes:
    """Store a 64x64 heatmap (hot square in the upper left) and a pre-read that references it."""
    heat = np.zeros((64, 64), dtype=np.uint8)
    heat[4:28, 4:28] = 230
    out = io.BytesIO()
    Image.fromarray(heat).save(out, format="PNG")
    key = f"ai/overlays/{study_id}/test-heatmap.png"
    services.object_store.put(key, out.getvalue(), "image/png")
    preread(services, study_id, overlays=[{"kind": "heatmap", "key": key, "sop_instance_uid": sop_uid, "frame": 0,
                                           "label": "Test opacity", "label_zh": "测试阴影", "threshold": 0.5}])
    return out.getvalue()


def add_city_expert(services: Services, username: str = "city_rad", role: str = "radiologist") -> None:
    with services.db.session() as session:
        create_user(session, username, PASSWORD, role, center_code="city", display_name=f"{username} 专家")
