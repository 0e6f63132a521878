"""An ingest job's uploads: each file's type read from its bytes (415 otherwise), saved as it
arrives under the job's ``incoming/`` folder, then the job queued on the ingest lane
(``jobs.py`` unpacks and ingests it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from fastapi import UploadFile

from facesearch.app.checks import check_collection_name, check_name
from facesearch.core.text import is_plain_name
from facesearch.engine import Engine
from facesearch.errors import InputError
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.jobs import IngestJob
from facesearch.server.limits import sniff_image, sniff_ingest
from facesearch.server.upload_names import incoming_name, upload_label, upload_stem

INGEST_EXT = {
    "zip": ".zip",
    "tar": ".tar",
    "tar.gz": ".tar.gz",
    "tar.bz2": ".tar.bz2",
    "tar.xz": ".tar.xz",
}
IMAGE_EXT = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "GIF": ".gif",
}


async def start(
    ctx: Context,
    who: Principal,
    files: Sequence[UploadFile],
    *,
    collection: str,
    label_from_dir: bool,
    subject: str | None,
) -> IngestJob:
    """Save the uploads of a new job and queue it; names are checked now (422), not when
    the job runs."""
    files = [f for f in files if f.filename or f.size]
    if not files:
        raise InputError("choose at least one image or archive to upload")
    collection = check_name((collection or "default").strip(), "collection")
    if not is_plain_name(collection):  # refused now (422) if it would be a new collection
        name = collection
        await ctx.workers.on_catalog(lambda c: check_collection_name(c, name))
    subject = subject.strip() if subject and subject.strip() else None
    if subject is not None:
        check_name(subject, "subject")
    job = ctx.jobs.new(who.name, collection, label_from_dir, subject, org=who.user.org)
    try:
        for n, upload in enumerate(files, start=1):
            # which file of the request a refusal is about (it said "the uploaded photo")
            label = upload_label(upload)
            await upload.seek(0)
            kind = sniff_ingest(await upload.read(512), label)
            if kind == "image":
                await upload.seek(0)
                fmt, _, _ = sniff_image(await upload.read(), ctx.settings.limits.max_pixels, label)
                ext = IMAGE_EXT[fmt]
            else:
                ext = INGEST_EXT[kind]
            stem = upload_stem(upload.filename, ext)
            target = job.folder / "incoming" / incoming_name(n, stem, ext)
            await upload.seek(0)
            size = await anyio.to_thread.run_sync(_copy, upload, target)
            job.files += 1
            job.bytes += size
    except BaseException:
        ctx.jobs.discard(job)
        raise
    metrics = ctx.metrics

    def done(summary: Any) -> None:
        metrics.inc("facesearch_ingest_images_total", summary.images_added)
        metrics.inc("facesearch_ingest_faces_total", summary.faces_added)

    def run(engine: Engine) -> None:
        ctx.jobs.run(job, engine, ctx.store, who.user, on_summary=done)
        metrics.inc("facesearch_ingest_jobs_total", status=job.status.value)

    ctx.workers.submit_ingest(run)
    return job


def _copy(upload: UploadFile, target: Path) -> int:
    size = 0
    with open(target, "wb") as out:
        while chunk := upload.file.read(1 << 20):
            out.write(chunk)
            size += len(chunk)
    return size
