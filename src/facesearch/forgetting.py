"""``Engine.forget``: erase faces from the catalog and the vector store (and blocklist a
person by photo), and say what each store did about it (the catalog's database: SQLite's
secure_delete and checkpoint, or PostgreSQL's VACUUM; the vector store: FAISS files rewritten,
or Milvus's delete, flush and compaction)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from facesearch.errors import FaceSearchError, InputError
from facesearch.gallery.catalog import RunOwner
from facesearch.gallery.run_lease import RENEW_EVERY_S, Renewer, this_process
from facesearch.like_odds import like_odds
from facesearch.results import ForgetResult, PersonLike
from facesearch.types import MAX_ID

if TYPE_CHECKING:
    from facesearch.engine import Engine, ImageInput
    from facesearch.gallery.ray_scan import RayScan

log = logging.getLogger(__name__)


def check_ids(face_ids: Sequence[int] | None, image_id: int | None) -> None:
    """InputError unless the face ids (a list or tuple) and the image id are whole numbers
    from 1 to MAX_ID (not "1", 1.5 or True)."""
    ids = [] if face_ids is None else face_ids
    if not isinstance(ids, tuple | list) or not all(_is_id(i) for i in ids):
        raise InputError(f"face ids are whole numbers, given {face_ids!r}")
    if image_id is not None and not _is_id(image_id):
        raise InputError(f"an image id is a whole number, given {image_id!r}")
    bad = [i for i in ids if not 1 <= i <= MAX_ID]
    if bad or (image_id is not None and not 1 <= image_id <= MAX_ID):
        what = f"face id {bad[0]}" if bad else f"image id {image_id}"
        raise InputError(f"{what} is not a valid id (ids are whole numbers from 1)")


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def erase_faces(
    engine: Engine,
    face_ids: Sequence[int] | None,
    image_id: int | None,
    subject: str | None,
    like: ImageInput | PersonLike | None,
    max_fmr: float | None,
    ray: RayScan | None = None,
    audited: bool = False,
    unname_persons: bool = False,
) -> ForgetResult:
    """Exactly one of face ids, an image id, a subject or ``like`` (a photo, or the
    ``person_like`` of one, which also blocklists). An erasure of someone (a subject, like a
    photo, or ``unname_persons`` with face ids: the faces of someone found by the caller)
    takes the names of the persons it takes a face from. ``audited``: the caller writes an audit
    entry of the erasure and then marks its blocklist entry recorded
    (``ForgetResult.blocklist_entry``); otherwise it is recorded here, once the faces went."""
    chosen = [x is not None for x in (face_ids, image_id, subject, like)]
    if sum(chosen) != 1:
        raise InputError("forget takes exactly one of face ids, image id, subject or like")
    check_ids(face_ids, image_id)
    # Loaded before the catalog changes: loading later would already drop the erased
    # faces (it catches up with the catalog) and the count below would say 0.
    engine.indexes.ensure_loaded()
    hold: ErasureHold | None = None
    with ExitStack() as held:
        if face_ids is not None:
            removed = engine.catalog.delete_faces(
                list(face_ids), prune_images=True, unname_persons=unname_persons
            )
        elif image_id is not None:
            removed = engine.catalog.delete_image(image_id)
        elif subject is not None:
            removed = engine.catalog.delete_subject(subject, prune_images=True)
        else:
            assert like is not None
            person = like if isinstance(like, PersonLike) else engine.person_like(like, max_fmr)
            refusal = like_odds(engine, person, None).refusal
            if refusal is not None:
                raise InputError(refusal)
            # Blocklisted before the scan, so no face of the person escapes both: an ingest
            # batch committed before the entry is in the catalog the scan reads, one committed
            # after it checks the entry in its own write transaction (``Catalog.add_images``).
            # Held (renewed) until this erasure is over: recorded here, or by the caller's
            # audit entry (``audited``).
            hold = held.enter_context(blocklisted_for_the_scan(engine, person))
            matched = engine.faces_like(person, ray=ray)
            hold.scanned()
            removed = (
                engine.catalog.delete_faces(matched, prune_images=True, unname_persons=True)
                if matched
                else []
            )
        n = engine.indexes.remove(f.id for f in removed)
        milvus = engine.indexes.last_erasure if n else None  # this remove's (save: more)
        engine.indexes.save()
        engine.catalog.checkpoint()
        catalog = engine.catalog.last_erasure if removed else None
        unnamed = engine.catalog.last_unnamed if removed else ()
        if hold is not None and not audited:
            hold.recorded()
    entry = None if hold is None else hold.id
    return ForgetResult(tuple(removed), like is not None, n, milvus, catalog, entry, unnamed)


@dataclass
class ErasureHold:
    """An erasure's own pending blocklist entry (``blocklisted_for_the_scan``), held until the
    erasure is over: renewed all along, taken back if the erasure fails during its scan, left
    to settle at once if it fails after (faces may be gone by then)."""

    id: int
    owner: RunOwner
    engine: Engine
    erasing: bool = False  # the scan is over: faces are being erased
    done: bool = False  # recorded: nothing that follows can be the erasure's failure

    def scanned(self) -> None:
        """The scan is over; what follows erases, so a failure no longer takes the entry
        back."""
        self.erasing = True

    def recorded(self) -> None:
        """The erasure's audit entry is written (or, for the Python API's unaudited
        ``Engine.forget``, its faces went): the entry is no longer pending. Never raises: the
        erasure is done and said so. One settled meanwhile (its process taken for gone)
        stays as settled; one the catalog could not mark stays pending; a warning says
        which."""
        self.done = True
        try:
            recorded = self.engine.catalog.blocklist_recorded(self.id, self.owner)
        except FaceSearchError as exc:
            log.warning(
                "blocklist entry %d could not be marked recorded (%s): its erasure's audit "
                "entry records it; it stays pending until this process ends, then 'facesearch "
                "erasure settle %d --keep' records it",
                self.id,
                exc,
                self.id,
            )
            return
        if not recorded:
            log.warning(
                "blocklist entry %d was settled by someone else while this erasure ran (its "
                "process was taken for gone): the settlement's erase entry says what became "
                "of it",
                self.id,
            )


@contextmanager
def blocklisted_for_the_scan(
    engine: Engine, person: PersonLike, org: str | None = None, *, owner: RunOwner | None = None
) -> Iterator[ErasureHold]:
    """``person`` on the erasure blocklist for the block (the erasure: its scan for their
    faces, then their deletion and its audit entry) and after it: from now on the ingests of
    ``org`` (None: the host's erasure, every ingest of the deployment) skip new faces like
    them (``gallery.blocklist`` says how strictly). The same photo entered twice counts once
    in K, the number of people whose entries set the threshold.

    The entry is this erasure's own, and *pending* (it names this process, ``owner``) until
    ``ErasureHold.recorded``, once the erasure's audit entry is written. A failure during
    the scan (Ray unreachable, ...; before ``ErasureHold.scanned``) takes it back, before
    anything is erased, so that a failed erasure leaves no opt-out the trail does not record;
    another erasure of the same photo keeps its own. A failure after the scan (faces may be
    gone) leaves it pending, marked failed, for someone to keep or take back at once
    (``app.blocklist_pending``), not once this process ends. Throughout the block, however
    long, a thread renews it every ``RENEW_EVERY_S``: the sign of life by which another
    machine tells it from an erasure killed before its entry (kill -9, the OOM killer), which
    takes nothing back and writes no entry. One settled meanwhile (its process taken for
    gone) is that settlement's: a failed erasure does not take it back, and a warning says
    so."""
    owner = owner or this_process()
    added = engine.catalog.blocklist_add(
        engine.pipeline.model_id,
        person.embedding,
        note=f"forget --like, {_now()}",
        org=org,
        pending=owner,
    )
    renewal = Renewer(
        engine.catalog,
        lambda own: own.blocklist_renew(added, owner),
        name=f"fs-blocklist-{added}",
        lost=f"blocklist entry {added} was settled by someone else while this erasure runs "
        "(its process was taken for gone); the erasure goes on",
        what=f"pending blocklist entry {added}",
        every_s=RENEW_EVERY_S,
    )
    hold = ErasureHold(added, owner, engine)
    try:
        yield hold
    except BaseException as exc:
        renewal.stop()
        if hold.done:
            pass  # recorded: the erasure's entry says what it did
        elif hold.erasing:
            mark_failed(engine, added, exc)
        elif not engine.catalog.blocklist_remove(added, owner=owner):
            log.warning(
                "blocklist entry %d was settled by someone else while this erasure ran (its "
                "process was taken for gone): the erasure failed, and leaves it as settled",
                added,
            )
        raise
    renewal.stop()


def mark_failed(engine: Engine, entry: int, exc: BaseException) -> None:
    """Pending blocklist entry ``entry`` will not be recorded: its erasure failed after its
    scan (faces may be gone), with ``exc``. It stays, to settle at once; the first failure's
    reason stays. When the catalog cannot mark it either (the same outage), a warning says
    that it stays pending until this process ends."""
    try:
        engine.catalog.blocklist_unrecorded(
            entry, f"the erasure failed after its scan: {type(exc).__name__}: {exc}"
        )
    except FaceSearchError as marking:
        log.warning(
            "blocklist entry %d, of an erasure that failed after its scan (%s), could not be "
            "marked failed (%s): it stays pending until this process ends, then 'facesearch "
            "erasure blocklist' lists it to settle",
            entry,
            exc,
            marking,
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
