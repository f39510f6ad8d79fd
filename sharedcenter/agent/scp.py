"""The agent's DICOM Storage SCP (pynetdicom): every C-STORE is made durable in the spool before
the modality gets its success status."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from sharedcenter.agent.spool import Spool
from sharedcenter.errors import InvalidInput

__all__ = ["STATUS_CANNOT_UNDERSTAND", "STATUS_OUT_OF_RESOURCES", "start_scp"]

log = logging.getLogger(__name__)

#: C-STORE failure statuses (PS3.4 Annex B.2.3)
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000


def _on_store(event: Event, spool: Spool) -> int:
    calling = event.assoc.requestor.ae_title.strip()
    try:
        accepted = spool.accept(event.encoded_dataset(), source=f"c-store:{calling}")
    except InvalidInput as exc:
        log.warning("C-STORE from %s refused: %s", calling, exc)
        return STATUS_CANNOT_UNDERSTAND
    except OSError as exc:  # disk full, spool unwritable: the modality keeps the image and retries
        log.error("C-STORE from %s not stored: %s", calling, exc)
        return STATUS_OUT_OF_RESOURCES
    log.debug("C-STORE %s from %s (%s)", accepted.sop_uid, calling, "new" if accepted.new else "already held")
    return 0x0000


def start_scp(spool: Spool, *, port: int, ae_title: str = "SCAGENT", host: str = "0.0.0.0",
              allowed_aets: Sequence[str] = ()) -> ThreadedAssociationServer:
    """Listen for C-STORE on ``host:port`` in background threads; call ``shutdown()`` on the result.

    Parameters
    ----------
    spool
        Where received instances go.
    port, host
        The listening address.
    ae_title
        The agent's own AE title (the modality's "called AE").
    allowed_aets
        Calling AE titles allowed to associate; empty allows any.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, got {port}")
    ae = AE(ae_title=ae_title)
    ae.require_called_aet = True
    if allowed_aets:
        ae.require_calling_aet = list(allowed_aets)
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax is not None:
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)  # C-ECHO: how a modality tests its "send to" destination
    ae.maximum_pdu_size = 0
    handlers: list[Any] = [(evt.EVT_C_STORE, _on_store, [spool])]
    server = ae.start_server((host, port), block=False, evt_handlers=handlers)
    assert server is not None  # block=False always returns the server
    log.info("storage SCP %s listening on %s:%d", ae_title, host, port)
    return server
