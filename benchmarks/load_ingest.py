"""``load.py --ingest-during N``: an upload ingest running on the server while the searches
load it (the server's ingest lane beside its probe analyses).

An admin uploads one zip of N LFW photos (of people not in the search gallery, in name order)
to ``POST /api/v1/ingest-jobs`` once the warm-up is done, as the searches start; the job is
followed until it ends. ``load.py`` reports the job's images added and its wall time beside the
searches' figures; searches answered after the job ended are counted too, so N should keep the
job busy for the whole ``--duration``.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

ADMIN_SCRIPT = """
import json, sys
from pathlib import Path
from facesearch.accountability import AccountabilityStore, local_actor
home, password = Path(sys.argv[1]), sys.argv[2]
me = local_actor("load-test")
with AccountabilityStore.open(home) as store:
    store.accounts.add_user("loadadmin", "admin", password, by=me)
    print(json.dumps(store.accounts.issue_token("loadadmin", by=me)))
"""
ENDED = ("completed", "failed")


def admin_token(home: Path, password: str, env: dict[str, str]) -> str:
    """An admin (who may ingest) and an API token for them, added to ``home``."""
    r = subprocess.run(
        [sys.executable, "-c", ADMIN_SCRIPT, str(home), password],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if r.returncode != 0:
        raise SystemExit(f"adding the ingest admin failed: {r.stderr}")
    token: str = json.loads(r.stdout)
    return token


def upload_zip(lfw: Path, n: int, gallery: set[str]) -> bytes:
    """A zip (stored, not compressed) of ``n`` LFW photos of people not in ``gallery``."""
    photos = [
        jpg
        for folder in sorted((lfw / "lfw-deepfunneled").iterdir())
        if folder.is_dir() and folder.name not in gallery
        for jpg in sorted(folder.glob("*.jpg"))
    ][:n]
    if len(photos) < n:
        raise SystemExit(f"LFW has fewer than {n} photos outside the gallery")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for jpg in photos:
            zf.write(jpg, f"{jpg.parent.name}/{jpg.name}")
    return buf.getvalue()  # after close: the central directory is written then


async def ingest_during(client: httpx.AsyncClient, token: str, data: bytes) -> dict[str, Any]:
    """Upload ``data`` as one ingest job and follow it to its end: its status, images added,
    faces added and wall time from the upload's start."""
    auth = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    r = await client.post(
        "/api/v1/ingest-jobs",
        headers=auth,
        files={"files": ("load.zip", data, "application/zip")},
        data={"collection": "load-upload", "label_from_dir": "true"},
    )
    if r.status_code != 202:
        return {"status": f"refused {r.status_code}: {r.text[:200]}", "seconds": 0.0}
    job = r.json()
    while job["status"] not in ENDED:
        await asyncio.sleep(0.5)
        job = (await client.get(f"/api/v1/ingest-jobs/{job['id']}", headers=auth)).json()
    return {
        "status": job["status"],
        "images_added": job["images_added"],
        "faces_added": job["faces_added"],
        "failed": job["failed"],
        "seconds": round(time.monotonic() - started, 2),
        "failures": job["failures"][:5],
    }
