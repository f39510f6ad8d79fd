"""``sharedcenter upload`` (journal, ``--parallel`` 1 and 2) against the plain client it replaced, same run.

Starts a private Orthanc and ``sharedcenter serve`` on it (the ingest bench's set-up), writes the same
kind of folder for each way (fresh UIDs each time, so every run stores new instances), and sends it:

- ``plain``: a minimal loop written below (what the removed ``ApiClient.upload_all`` did: no journal,
  no retries), one study at a time;
- ``upload1``: the ``sharedcenter.upload`` path (collect, plan, journal fsync'ed per batch, retries),
  one study at a time (``--parallel 1``);
- ``upload``: the same with the command's default, two studies at once (``--parallel 2``);
- ``resume``: the ``upload`` path again on inputs whose journal already holds every batch (what a
  re-run after an interruption pays for the part already sent);
- ``half``: a run whose journal holds the first half of the batches (a resumed, half-done upload).

It prints instances/s and the ratios ``upload / plain`` and ``upload1 / plain`` throughput and
``resume / upload`` time.  The ways alternate within each round, so the machine's noise hits each alike.

    .venv/bin/python bench/upload.py [--studies 10] [--per-study 20] [--large 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import make_files, setup_stack, start_server

from sharedcenter.upload import Journal, collect, plan_batches, send_batches
from tests.servers import free_port

SITE = "c01-t01"
# The ``plain`` baseline is written here on purpose: it is the client that ``sharedcenter.upload`` replaced
# (``sharedcenter.client.plan_upload`` and ``ApiClient.upload_all``, since removed from the package), cut
# down to what this bench sends: DICOM grouped by study, batches of at most 64 files / 32 MiB, the last
# one declaring the study complete, one study at a time, no journal, no retries.
PLAIN_FILES, PLAIN_BYTES, PLAIN_HEAD = 64, 32 * 1024 * 1024, 1024 * 1024


def _plain_study(path: Path) -> str:
    """The StudyInstanceUID, parsed from the first MiB when the whole file fits in it (as the old client)."""
    with path.open("rb") as fh:
        head = fh.read(PLAIN_HEAD)
    source = io.BytesIO(head) if len(head) < PLAIN_HEAD else path
    return str(pydicom.dcmread(source, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]).StudyInstanceUID)


def _plain_batches(folder: Path) -> list[tuple[list[Path], bool]]:
    studies: dict[str, list[Path]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        studies.setdefault(_plain_study(path), []).append(path)
    batches: list[tuple[list[Path], bool]] = []
    for paths in studies.values():
        current: list[Path] = []
        size = 0
        for path in paths:
            if current and (len(current) >= PLAIN_FILES or size + path.stat().st_size > PLAIN_BYTES):
                batches.append((current, False))
                current, size = [], 0
            current.append(path)
            size += path.stat().st_size
        batches.append((current, True))
    return batches


def plain(url: str, token: str, folder: Path) -> float:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        start = time.perf_counter()
        for paths, complete in _plain_batches(folder):
            files = [("files", (p.name, io.BytesIO(p.read_bytes()), "application/octet-stream")) for p in paths]
            data = {"complete": "true" if complete else "false", "site": SITE}
            http.post("/api/uploads", files=files, data=data).raise_for_status()
        return time.perf_counter() - start


def upload(url: str, token: str, folder: Path, state: Path, keep_first: int | None = None,
           parallel: int = 2) -> tuple[float, int]:
    """Time the upload path; with ``keep_first``, only that many batches are sent and journaled (the
    timing is then meaningless), to set up a resumed run.  Returns seconds and batches skipped."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        start = time.perf_counter()
        inputs = collect([folder])
        batches, _ = plan_batches(inputs.items)
        with Journal.for_upload(url, SITE, [folder], state) as journal:
            journal.load()
            summary = send_batches(http, batches[:keep_first] if keep_first else batches, SITE, journal,
                                   parallel=parallel)
        inputs.close()
        return time.perf_counter() - start, summary.batches_skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--per-study", type=int, default=20)
    parser.add_argument("--large", type=int, default=4, help="one-image CR studies (~7 MB each)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    orthanc, services, token, env = setup_stack(work)
    port = free_port()
    server = start_server(env, port, work / "serve.log")
    url = f"http://127.0.0.1:{port}"
    rows: dict[str, list[float]] = {"plain": [], "upload1": [], "upload": [], "resume": [], "half": []}
    n = 0
    try:
        for r in range(args.rounds):
            # alternate the order too, so that neither way always runs first after the previous round
            for way in ("plain", "upload1", "upload") if r % 2 == 0 else ("upload", "upload1", "plain"):
                folder = work / f"{way}-{r}"
                n = len(make_files(folder, args.studies, args.per_study, args.large))
                if way == "plain":
                    rows["plain"].append(plain(url, token, folder))
                    continue
                state = work / f"state-{way}-{r}"
                rows[way].append(upload(url, token, folder, state, parallel=1 if way == "upload1" else 2)[0])
                if way == "upload":
                    rows["resume"].append(upload(url, token, folder, state)[0])
            half = work / f"half-{r}"
            make_files(half, args.studies, args.per_study, args.large)
            total = len(plan_batches(collect([half]).items)[0])
            upload(url, token, half, work / f"state-half-{r}", keep_first=total // 2)
            rows["half"].append(upload(url, token, half, work / f"state-half-{r}")[0])
    finally:
        server.terminate()
        server.wait(timeout=20)
        orthanc.stop()
        services.close()
    best = {way: min(times) for way, times in rows.items()}
    for way, times in rows.items():
        print(f"{way:>7}: {n} instances, best {best[way]:.2f} s -> {n / best[way]:.1f} instances/s "
              f"(runs: {[round(t, 2) for t in times]})")
    ratio, ratio1 = best["plain"] / best["upload"], best["plain"] / best["upload1"]
    print(f"upload/plain throughput {ratio:.2f} (--parallel 1: {ratio1:.2f}); resume of a fully sent set costs "
          f"{best['resume'] / best['upload']:.3f} of an upload; a half-sent set resumes in "
          f"{best['half'] / best['upload']:.2f} of an upload")
    print(json.dumps({"instances": n, "instances_per_s": {w: round(n / t, 1) for w, t in best.items()},
                      "ratio_upload_plain": round(ratio, 3), "ratio_upload1_plain": round(ratio1, 3),
                      "ratio_resume_upload": round(best["resume"] / best["upload"], 4),
                      "ratio_half_upload": round(best["half"] / best["upload"], 3)}))


if __name__ == "__main__":
    main()
