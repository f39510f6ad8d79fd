"""The Orthanc configuration sharedcenter runs Orthanc with, generated rather than hand-edited.

:func:`render_orthanc_config` returns the JSON document for Debian 12's Orthanc 1.10.1 (with the
DICOMweb 1.7 and Python 4.0 plugins); :func:`plugins_folder` makes the folder of plugin symlinks
that its ``"Plugins"`` key names.  The same function serves deployment (``sharedcenter orthanc
config``) and the test fixtures, so what the tests exercise is what runs in the field.

Security posture of the rendered configuration:

- HTTP basic authentication on for every REST call, ``RemoteAccessAllowed`` false.
- C-STORE accepted only from the configured modalities (township AE titles); an unknown calling AE
  title is refused at association time, because every ``DicomAlwaysAllow*`` option is false.
- ``DicomCheckModalityHost`` should be true in deployment (the AE title must come from its
  registered host); tests on loopback may leave it false.
- Orthanc 1.10.1 listens on all interfaces and cannot bind its DICOM port to one address:
  firewall it so that only the townships' networks reach it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sharedcenter.errors import ImproperlyConfigured

__all__ = [
    "DEFAULT_PLUGINS",
    "PLUGIN_SEARCH_PATH",
    "MODALITY_PORT",
    "modality_key",
    "plugins_folder",
    "render_orthanc_config",
    "validate_ae_title",
]

logger = logging.getLogger(__name__)

#: Plugins sharedcenter needs: DICOMweb (STOW-RS/WADO-RS for uploads and viewers) and Python (doorbell).
DEFAULT_PLUGINS: tuple[str, ...] = ("libOrthancDicomWeb.so", "libOrthancPython.so")

#: Where Debian installs Orthanc plugins (``/usr/share/...`` holds unversioned symlinks).
PLUGIN_SEARCH_PATH: tuple[Path, ...] = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))

#: The port written for each modality; Orthanc only uses it when it calls the modality (C-MOVE target),
#: which sharedcenter never does, but the entry needs one.
MODALITY_PORT = 104

_AE_TITLE_CHARS = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash


def validate_ae_title(ae_title: str, what: str = "ae_title") -> str:
    """Check a DICOM AE title (1-16 printable ASCII characters, no backslash, not blank).

    Parameters
    ----------
    ae_title
        The AE title; leading and trailing spaces are not significant and are removed.
    what
        The argument name used in the error message.

    Returns
    -------
    str
        The stripped AE title.

    Raises
    ------
    ValueError
        The AE title is empty, too long or has characters DICOM forbids.
    """
    stripped = ae_title.strip(" ")
    if not stripped or not _AE_TITLE_CHARS.match(ae_title):
        raise ValueError(f"{what} {ae_title!r} must be 1-16 printable ASCII characters without backslash, not blank")
    return stripped


def modality_key(ae_title: str) -> str:
    """The symbolic name of a modality in ``DicomModalities``: the AE title, lower-cased, sanitized.

    Characters other than letters, digits, ``-`` and ``_`` become ``_`` so the key is safe in REST
    paths (``/modalities/{key}``).

    Parameters
    ----------
    ae_title
        The modality's AE title.

    Returns
    -------
    str
        The key, e.g. ``"c01t01dr"`` for ``"C01T01DR"``.

    Raises
    ------
    ValueError
        ``ae_title`` is not a valid AE title.
    """
    return re.sub(r"[^a-z0-9_-]", "_", validate_ae_title(ae_title).lower())


def _modalities(modalities: Iterable[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    seen_aets: set[str] = set()
    for ae_title, host in modalities:
        aet = validate_ae_title(ae_title, "modality AE title")
        if not host or any(c.isspace() for c in host):
            raise ValueError(f"modality {aet!r}: host {host!r} must be a non-empty host name or IP address")
        if aet in seen_aets:
            raise ValueError(f"modality AE title {aet!r} is listed twice in modalities")
        seen_aets.add(aet)
        key = modality_key(aet)
        base, n = key, 2
        while key in entries:  # two AE titles that sanitize alike ("A.B" and "A_B")
            key, n = f"{base}_{n}", n + 1
        entries[key] = {
            "AET": aet,
            "Host": host,
            "Port": MODALITY_PORT,
            "AllowEcho": True,
            "AllowStore": True,
            "AllowFind": False,
            "AllowMove": False,
            "AllowGet": False,
            "AllowStorageCommitment": False,
        }
    return entries


def _check_port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"{what} {value} must be a TCP port between 1 and 65535")
    return value


def _notify_section(notify_url: str | None, notify_token: str | None) -> dict[str, Any]:
    if notify_url is not None and not notify_url.startswith(("http://", "https://")):
        raise ValueError(f"notify_url {notify_url!r} must be an http:// or https:// URL")
    return {"NotifyUrl": notify_url, "Token": notify_token}


def render_orthanc_config(
    *,
    name: str,
    http_port: int,
    dicom_port: int,
    dicom_aet: str,
    storage_dir: Path,
    users: Mapping[str, str],
    modalities: Sequence[tuple[str, str]],
    plugins_dir: Path | None,
    python_script: Path | None,
    notify_url: str | None,
    stable_age: int = 60,
    index_dir: Path | None = None,
    notify_token: str | None = None,
    check_modality_host: bool = False,
    dicom_scp_timeout: int = 30,
    http_timeout: int = 60,
    default_encoding: str = "Utf8",
) -> dict[str, Any]:
    """Render the Orthanc 1.10.1 JSON configuration of one sharedcenter DICOM store.

    Parameters
    ----------
    name
        Orthanc's ``Name`` (shown in its explorer and logs).
    http_port, dicom_port
        TCP ports of the REST API and of the DICOM (C-STORE SCP) server.
    dicom_aet
        Orthanc's own AE title, which the township modalities call.
    storage_dir
        Where Orthanc keeps the DICOM files.
    users
        HTTP basic-auth users (name to password); at least one.  Give the worker its own user.
    modalities
        ``(ae_title, host)`` pairs of the modalities allowed to C-STORE; any other calling AE title
        is refused at association.
    plugins_dir
        A folder holding only the wanted plugins (see :func:`plugins_folder`); None loads none.
    python_script
        The doorbell script (``orthanc/notify.py``) run by the Python plugin; None runs none.
    notify_url
        Where the script POSTs ``stable_study`` events (sharedcenter's API); None disables them.
    stable_age
        Seconds without a new instance after which a study counts as stable.
    index_dir
        Where the SQLite index lives; defaults to ``storage_dir``.
    notify_token
        Bearer token the script sends with each event, if any.
    check_modality_host
        Whether a calling AE title must also come from its registered host.  Use True in deployment;
        False only for tests on loopback.
    dicom_scp_timeout, http_timeout
        Seconds before Orthanc drops an idle DICOM association or HTTP connection.
    default_encoding
        Character set assumed when an instance has no SpecificCharacterSet (Orthanc's names, e.g.
        ``"Utf8"``, ``"Chinese"`` for GB18030).

    Returns
    -------
    dict
        The configuration, ready for ``json.dump``.

    Raises
    ------
    ValueError
        A port, AE title, user list, URL or stable age is not usable.
    """
    if not users:
        raise ValueError("users must name at least one HTTP user: Orthanc runs with authentication on")
    if stable_age < 1:
        raise ValueError(f"stable_age {stable_age} must be at least 1 second")
    if python_script is not None and plugins_dir is None:
        raise ValueError("python_script needs plugins_dir with libOrthancPython.so in it")
    config: dict[str, Any] = {
        "Name": name,
        "StorageDirectory": str(storage_dir),
        "IndexDirectory": str(index_dir if index_dir is not None else storage_dir),
        "StorageCompression": False,
        "OverwriteInstances": False,
        "StoreMD5ForAttachments": True,
        "SyncStorageArea": True,
        "MaximumStorageSize": 0,
        "MaximumPatientCount": 0,
        "StableAge": stable_age,
        "Plugins": [str(plugins_dir)] if plugins_dir is not None else [],
        "LuaScripts": [],
        "DefaultEncoding": default_encoding,
        # HTTP
        "HttpServerEnabled": True,
        "HttpPort": _check_port(http_port, "http_port"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": dict(users),
        "HttpTimeout": http_timeout,
        "KeepAlive": True,
        "TcpNoDelay": True,
        "HttpCompressionEnabled": False,
        "HttpDescribeErrors": True,
        "WebDavEnabled": False,
        "ExecuteLuaEnabled": False,
        "DeidentifyLogs": True,
        # DICOM
        "DicomServerEnabled": True,
        "DicomAet": validate_ae_title(dicom_aet, "dicom_aet"),
        "DicomPort": _check_port(dicom_port, "dicom_port"),
        "DicomCheckCalledAet": False,
        "DicomScpTimeout": dicom_scp_timeout,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowFindWorklist": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "DicomCheckModalityHost": check_modality_host,
        "DicomModalities": _modalities(modalities),
        "DicomModalitiesInDatabase": False,
        "OrthancPeers": {},
        "OrthancPeersInDatabase": False,
        "UnknownSopClassAccepted": False,
        "LimitFindResults": 0,
        "LimitFindInstances": 0,
        # Plugins
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado"},
        "SharedCenter": _notify_section(notify_url, notify_token),
    }
    if python_script is not None:
        config["PythonScript"] = str(python_script)
        config["PythonVerbose"] = False
    return config


def _find_plugin(name: str, search: Sequence[Path]) -> Path | None:
    for folder in search:
        exact = folder / name
        if exact.exists():
            return exact.resolve()
        versioned = sorted(folder.glob(f"{name}.*"))
        if versioned:
            return versioned[-1].resolve()
    return None


def plugins_folder(
    dest: Path,
    names: Sequence[str] = DEFAULT_PLUGINS,
    *,
    search: Sequence[Path] = PLUGIN_SEARCH_PATH,
    missing_ok: bool = False,
) -> Path:
    """Make ``dest`` a folder of symlinks to just the Orthanc plugins named.

    Orthanc's ``"Plugins"`` option loads every shared library in a folder; Debian's folder also
    holds plugins sharedcenter does not want (worklists, serve-folders).

    Parameters
    ----------
    dest
        The folder to (re)fill; created when missing.  Other files in it are left alone.
    names
        Unversioned plugin file names, e.g. ``libOrthancPython.so``.
    search
        Folders to look in, first match wins (a versioned ``name.X.Y`` file also matches).
    missing_ok
        Skip plugins that are not installed (with a warning) instead of failing.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ImproperlyConfigured
        A plugin is not installed and ``missing_ok`` is false; the message names the Debian packages.
    """
    dest.mkdir(parents=True, exist_ok=True)
    missing: list[str] = []
    for name in names:
        source = _find_plugin(name, search)
        if source is None:
            missing.append(name)
            continue
        link = dest / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source)
    if missing:
        where = ", ".join(str(p) for p in search)
        message = (
            f"Orthanc plugins not installed: {', '.join(missing)} (looked in {where}); "
            "install them with: apt-get install orthanc-dicomweb orthanc-python"
        )
        if not missing_ok:
            raise ImproperlyConfigured(message)
        logger.warning("%s; continuing without them", message)
    return dest
