from pathlib import Path

import pytest

from sharedcenter.config import DEV_SECRET, load_settings
from sharedcenter.errors import ImproperlyConfigured
from sharedcenter.storage import dicom_store_from_settings


def test_embedded_defaults_need_no_server(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'sharedcenter.db'}"
    assert s.dicom_folder == tmp_path / "dicom" and s.object_folder == tmp_path / "objects"
    assert s.broker_url == "filesystem://localhost//" and s.is_embedded_broker
    assert s.region_file.is_file()


def test_environment_is_read_with_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREDCENTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHAREDCENTER_ROUTINE_WINDOW_HOURS", "12")
    s = load_settings()
    assert s.data_dir == tmp_path and s.routine_window_hours == 12


def test_prod_refuses_placeholder_secrets(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="secret_key.*orthanc_password.*s3_secret_key"):
        load_settings(env="prod", data_dir=tmp_path)
    ok = load_settings(env="prod", data_dir=tmp_path, secret_key="x" * 32, orthanc_password="p" * 16,
                       s3_secret_key="s" * 16)
    assert ok.secret_key != DEV_SECRET


@pytest.mark.parametrize(("env", "value", "message"), [
    ("SHAREDCENTER_DICOM_STORE", "dropbox", "SHAREDCENTER_DICOM_STORE"),
    ("SHAREDCENTER_MAX_UPLOAD_BYTES", "-1", "SHAREDCENTER_MAX_UPLOAD_BYTES"),
    ("SHAREDCENTER_REGION_FILE", "/nonexistent.toml", "region_file"),
])
def test_invalid_settings_name_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str, value: str,
                                           message: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(data_dir=tmp_path)


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="SHAREDCENTER_NO_SUCH_THING"):
        load_settings(data_dir=tmp_path, no_such_thing=1)


def test_store_names_pick_adapters(tmp_path: Path) -> None:
    assert dicom_store_from_settings(load_settings(data_dir=tmp_path)).name == "folder"
