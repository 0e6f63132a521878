"""The checks every use goes through: may this actor do it, and under which case and purpose.

Case number and purpose are required of every server user, and of the local CLI actor once the
home has user accounts. The local CLI actor (``os:<login>``) is not checked for permissions:
whoever can run the CLI on a home can read its files anyway.

Once the case registry holds a case (``accountability.cases``), a search, verification or
decision must name an open case of which the user is a member (the local CLI actor: an open
case); a refusal is a ``case_refused`` audit entry and a PermissionDeniedError. A home whose
registry is empty works as before, with free-text case numbers.

A use checked under a number the registry did not hold says so in its entry
(``"case_registered": false``, ``case_marks``): a case of that number opened while it ran
(after its check, before its entry) was not the case it was checked against, and its members
do not see it (``reads.work_of_case``). Entries without the field are judged by their time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    Actor,
    AuditEntry,
    Permission,
)
from facesearch.accountability.audit import PLATFORM_ORG
from facesearch.accountability.permissions import allow
from facesearch.accountability.text_checks import MAX_CASE_CHARS, MAX_PURPOSE_CHARS, clean_text
from facesearch.app.alerts import raise_alerts
from facesearch.app.training import require_training
from facesearch.core.matching import check_decision, check_top
from facesearch.core.text import is_plain_name, shown_name
from facesearch.engine import Engine, ImageInput
from facesearch.errors import (
    CaseRequiredError,
    CatalogError,
    ConfigError,
    FaceSearchError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    TrainingRequiredError,
)
from facesearch.gallery.catalog import Catalog, check_name, check_new_collection_name
from facesearch.settings import Settings

__all__ = [
    "CASE_REGISTERED",
    "TRAINING_WAIVED",
    "UPLOADED_PHOTO",
    "CheckedUse",
    "Failure",
    "allow",
    "bytes_of",
    "case_marks",
    "case_required",
    "check_case",
    "check_case_use",
    "check_collection_name",
    "check_decision",
    "check_name",
    "check_new_collection_name",
    "check_top",
    "check_use",
    "checked_use",
    "entry_missing",
    "log",
    "log_failure",
    "registered_now",
]


def check_collection_name(catalog: Catalog, name: str) -> str:
    """The name of a collection to ingest into: InputError unless it names a collection the
    catalog holds or is a name a new collection may have (``check_new_collection_name``)."""
    check_name(name, "collection")
    if not is_plain_name(name) and name not in {c.name for c in catalog.collections()}:
        check_new_collection_name(name)
    return name


CASE_WORK = frozenset({Permission.SEARCH, Permission.VERIFY, Permission.DECIDE})
TRAINED_WORK = frozenset({Permission.SEARCH, Permission.VERIFY})
UPLOADED_PHOTO = "the uploaded photo"  # what messages call an upload with no usable file name
MAX_ERROR_CHARS = 500
# the payload field of a use checked while the registry did not hold its case number
CASE_REGISTERED = "case_registered"
# the payload field of a search or verification whose user was not required to pass the
# training (FACESEARCH_TRAINING_REQUIRED off for a pilot: ``training.require_training``)
TRAINING_WAIVED = "training_waived"


def case_marks(case: str | None, registered: bool | None) -> dict[str, Any]:
    """What the entry of a use under ``case`` says of the registry when it was checked:
    ``{"case_registered": False}`` unless the registry held the number then (``registered``
    None: not checked against it, as unsure as not held); nothing when no case is named."""
    return {} if case is None or registered else {CASE_REGISTERED: False}


def waiver_marks(waived: bool) -> dict[str, Any]:
    """What the entry of a search or verification says of training: ``{"training_waived":
    True}`` when its user was not required to pass it (``training.require_training``)."""
    return {TRAINING_WAIVED: True} if waived else {}


@dataclass(frozen=True)
class CheckedUse:
    """A use that passed ``check_use``: its case number and purpose, whether the case
    registry held that number when it was checked (None: not checked against it, for work
    that is not a search, verification or decision), and whether training was waived for
    its user (a search or verification with FACESEARCH_TRAINING_REQUIRED off)."""

    case: str | None
    purpose: str | None
    registered: bool | None
    training_waived: bool = False

    def marks(self) -> dict[str, Any]:
        """Its entry's fields on the registry (``case_marks``) and on training
        (``waiver_marks``)."""
        return {**case_marks(self.case, self.registered), **waiver_marks(self.training_waived)}

    def failure(
        self,
        error: FaceSearchError,
        model_id: str,
        photos: Sequence[bytes] = (),
        started: datetime | None = None,
    ) -> Failure:
        """This use's attempt that failed with ``error``: a ``Failure`` carrying what was
        checked (its entry says the same as a success's would)."""
        return Failure(error, model_id, photos, started, self.registered, self.training_waived)


def check_case(
    case: str | None, purpose: str | None, *, required: bool
) -> tuple[str | None, str | None]:
    """The case number and purpose, trimmed; CaseRequiredError if required and missing,
    InputError if unusable (too long, control characters)."""
    case_text = clean_text(case, "the case number", MAX_CASE_CHARS, one_line=True)
    purpose_text = clean_text(purpose, "the purpose", MAX_PURPOSE_CHARS, one_line=False)
    if required and case_text is None:
        missing = ("case",) if purpose_text else ("case", "purpose")
        raise CaseRequiredError("a case number is required", missing)
    if required and purpose_text is None:
        raise CaseRequiredError("a stated purpose is required", ("purpose",))
    return case_text, purpose_text


def case_required(store: AccountabilityStore, actor: Actor) -> bool:
    """Whether ``actor`` must name a case and a purpose: always through the server, and in
    the CLI once the home has user accounts."""
    return not actor.is_local or store.accounts.has_users()


def check_use(
    store: AccountabilityStore,
    actor: Actor,
    permission: Permission,
    case: str | None,
    purpose: str | None,
    *,
    settings: Settings | None = None,
) -> tuple[str | None, str | None]:
    """The case and purpose of a use that passed ``checked_use``."""
    use = checked_use(store, actor, permission, case, purpose, settings=settings)
    return use.case, use.purpose


def checked_use(
    store: AccountabilityStore,
    actor: Actor,
    permission: Permission,
    case: str | None,
    purpose: str | None,
    *,
    settings: Settings | None = None,
) -> CheckedUse:
    """The permission, then the case and purpose (required per ``case_required``), then for
    searches, verifications and decisions the case registry (``check_case_use``), then for
    searches and verifications the training (``training.require_training``: ``settings``
    must be given for them). The use, with what the registry held when it was checked:
    its entry carries ``marks()``."""
    allow(actor, permission)
    case, purpose = check_case(case, purpose, required=case_required(store, actor))
    registered = None
    waived = False
    if permission in CASE_WORK:
        registered = check_case_use(store, actor, permission, case, purpose)
    if permission in TRAINED_WORK:
        if settings is None:
            raise TypeError("check_use needs the settings for a search or a verification")
        try:
            waived = require_training(store, settings, actor)
        except TrainingRequiredError as exc:  # refused and logged, as a refused case is
            payload = {
                "attempt": permission.value,
                "reason": "training_required",
                "outcome": exc.code,
                "error": str(exc),
                **case_marks(case, registered),
            }
            log(store, actor, Action.CASE_REFUSED, case, purpose, payload)
            raise
    return CheckedUse(case, purpose, registered, waived)


def check_case_use(
    store: AccountabilityStore,
    actor: Actor,
    permission: Permission,
    case: str | None,
    purpose: str | None,
) -> bool:
    """PermissionDeniedError, logged as a ``case_refused`` entry, if the case registry refuses
    ``actor`` work under ``case`` (unknown, closed, or not a member: ``Cases.check``).
    Whether the registry held the number, read with the refusal (``CheckedUse.registered``)."""
    checked = store.cases.check(case, actor)
    refusal = checked.refusal
    if refusal is None or case is None:
        return checked.registered
    error = PermissionDeniedError(refusal.message(case, actor.name))
    payload = {
        "attempt": permission.value,
        "reason": refusal.value,
        "outcome": error.code,
        "error": str(error),
        **case_marks(case, checked.registered),
    }
    log(store, actor, Action.CASE_REFUSED, case, purpose, payload)
    raise error


def bytes_of(engine: Engine, image: ImageInput, name: str | None) -> tuple[bytes, str]:
    """The bytes of an image given as bytes or a path, and what messages call it."""
    if isinstance(image, bytes):
        return image, shown_name(name or UPLOADED_PHOTO)
    item = engine.read_input(image)
    return item.data, shown_name(name or item.source)  # a path's bytes may not be UTF-8


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def entry_missing(exc: FaceSearchError, done: str) -> FaceSearchError:
    """The error for a change made whose audit entry could not be written after it."""
    message = (
        f"{done}, but no audit entry records it: {exc}. Write down what was done and fix the "
        "cause ('facesearch audit verify' names the trail's key and anchor files)"
    )
    kind = type(exc) if type(exc) in (ConfigError, CatalogError, InputError) else CatalogError
    return kind(message)


def log(
    store: AccountabilityStore,
    actor: Actor,
    action: Action,
    case: str | None,
    purpose: str | None,
    payload: dict[str, Any],
    *,
    keep_probe: tuple[bytes, int] | None = None,
) -> AuditEntry:
    """Append the audit entry of one use by ``actor``. ``keep_probe``: (the probe's bytes,
    days) to keep in the same commit, so that a kept probe always has its entry (and a search
    costs one commit, not two)."""
    with store.db.write():
        if keep_probe is not None:
            store.probes.keep(keep_probe[0], retention_days=keep_probe[1])
        entry = store.audit.append(
            actor=actor.name,
            action=action,
            case=case,
            purpose=purpose,
            payload=payload,
            org=actor.org if actor.org is not None else PLATFORM_ORG,
        )
    if action is Action.SEARCH and not actor.is_local:  # the CLI at the machine: no alerts
        raise_alerts(store, entry)  # the organisation's alert rules (``alerts.py``)
    return entry


@dataclass(frozen=True)
class Failure:
    """An attempt that failed: its error, the model it ran with, the photos read before it
    failed (named in its entry by sha256, never kept), when it started (None: now), and
    whether the registry held its case number when it was checked (None: it was not checked,
    as an upload the server refused before the application's checks; ``log_failure`` reads
    the registry then), and whether training was waived for its user (``CheckedUse``)."""

    error: FaceSearchError
    model_id: str
    photos: Sequence[bytes] = ()
    started: datetime | None = None
    registered: bool | None = None
    training_waived: bool = False


def log_failure(
    store: AccountabilityStore,
    actor: Actor,
    action: Action,
    case: str | None,
    purpose: str | None,
    failure: Failure,
    **fields: Any,
) -> int:
    """Log an attempt that failed (case and purpose checked but not required); returns its
    entry's seq. The payload: ``outcome`` (the error's code), ``error``, ``started``,
    ``ended``, then ``fields``, then ``case_marks`` and ``waiver_marks``."""
    case, purpose = check_case(case, purpose, required=False)
    registered = failure.registered
    if registered is None and case is not None:  # not checked: what the registry holds now
        registered = registered_now(store, actor, case)
    moment = now()
    payload: dict[str, Any] = {
        "outcome": failure.error.code,
        "error": str(failure.error)[:MAX_ERROR_CHARS],
        "started": iso(failure.started or moment),
        "ended": iso(moment),
        **fields,
        **case_marks(case, registered),
        **waiver_marks(failure.training_waived),
    }
    return log(store, actor, action, case, purpose, payload).seq


def registered_now(store: AccountabilityStore, actor: Actor, case: str) -> bool:
    """Whether ``actor``'s registry holds case ``case`` (read before the entry is written:
    a case is never taken out of a registry, so one held now is held when it is)."""
    try:
        return store.cases.check(case, actor).registered
    except (NotFoundError, PermissionDeniedError):  # no organisation, or no registry
        return False
