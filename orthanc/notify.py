"""Orthanc doorbell: tell sharedcenter that a study became stable.

Runs inside Orthanc's Python plugin (Debian's system Python 3.11, standard library only).  It holds
no logic on purpose: on each ``STABLE_STUDY`` change it queues ``{"event": "stable_study",
"orthanc_id": ...}`` and a background thread POSTs it to ``SharedCenter.NotifyUrl`` from Orthanc's
configuration, with a one-second timeout, so the Orthanc callback never waits on the network.

A lost doorbell is harmless: sharedcenter also reads Orthanc's ``/changes`` feed from its last
cursor, so failures here are only logged.
"""

import json
import queue
import threading
import urllib.request

import orthanc

__all__ = ["OnChange"]

_SETTINGS = json.loads(orthanc.GetConfiguration()).get("SharedCenter") or {}
_URL = _SETTINGS.get("NotifyUrl")
_TOKEN = _SETTINGS.get("Token")
_TIMEOUT_S = 1.0
_PENDING = queue.Queue(maxsize=10000)
_STOP = None


def _post(orthanc_id):
    body = json.dumps({"event": "stable_study", "orthanc_id": orthanc_id}).encode()
    headers = {"Content-Type": "application/json"}
    if _TOKEN:
        headers["Authorization"] = "Bearer " + _TOKEN
    request = urllib.request.Request(_URL, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            response.read()
    except (OSError, ValueError) as exc:  # URLError, timeouts and HTTP errors are OSErrors
        orthanc.LogWarning(f"sharedcenter doorbell for study {orthanc_id} failed: {exc}")


def _sender():
    while True:
        orthanc_id = _PENDING.get()
        if orthanc_id is _STOP:
            return
        _post(orthanc_id)


def OnChange(change_type, level, resource_id):
    if change_type == orthanc.ChangeType.STABLE_STUDY:
        try:
            _PENDING.put_nowait(resource_id)
        except queue.Full:
            orthanc.LogWarning("sharedcenter doorbell queue full; /changes will catch study " + resource_id)
    elif change_type == orthanc.ChangeType.ORTHANC_STOPPED:
        try:
            _PENDING.put_nowait(_STOP)
        except queue.Full:
            orthanc.LogWarning("sharedcenter doorbell queue full at stop; pending doorbells are dropped")


if _URL:
    threading.Thread(target=_sender, name="sharedcenter-doorbell", daemon=True).start()
    orthanc.RegisterOnChangeCallback(OnChange)
    orthanc.LogInfo("sharedcenter doorbell rings " + _URL)
else:
    orthanc.LogInfo("sharedcenter doorbell off: no SharedCenter.NotifyUrl in the configuration")
