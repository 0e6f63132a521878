"""Training before a user's first search or verification: the quiz graded, and where each
user stands, read from and written to the audit trail.

The course and the quiz's questions are ``training_course`` (re-exported here). The quiz
(``QUIZ``) has five questions of one right answer each; it is passed with all five right
(``PASS_MARK``): each question is a rule of use, not trivia, and the quiz may be taken again
at once.

The trail is the record: a ``training_passed`` entry (payload: version, score, valid_until)
holds for ``VALID_DAYS`` days; a ``training_failed`` entry (version, score) records an attempt
that did not pass. ``require_training`` refuses (TrainingRequiredError, HTTP 403) a user who
must pass and has no current pass. The local CLI actor is exempt (whoever runs the CLI can read
the home's files anyway), as is everyone when ``settings.accounts.training_required`` is off
for a pilot: ``require_training`` then writes a ``training_waived`` entry, at most one per user
per day (UTC), and each search and verification entry carries ``"training_waived": true``
(``TRAINING_WAIVED``), so the trail says the rule was off for every use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.accountability.audit import PLATFORM_ORG
from facesearch.accountability.permissions import can
from facesearch.app.scope import policy_of, scope_of
from facesearch.app.training_course import (
    QUIZ,
    VERSION,
    Lookalike,
    Question,
    Section,
    TrainingContent,
    training_content,
)
from facesearch.errors import InputError, TrainingRequiredError
from facesearch.gallery.catalog import Catalog
from facesearch.settings import Settings

__all__ = [
    "PASS_MARK",
    "QUIZ",
    "VALID_DAYS",
    "VERSION",
    "Lookalike",
    "Question",
    "QuizResult",
    "Section",
    "TrainingContent",
    "TrainingStatus",
    "grade",
    "require_training",
    "submit_quiz",
    "training_content",
    "training_course",
    "training_required",
    "training_status",
    "training_waived",
]

VALID_DAYS = 365  # a pass is renewed yearly
PASS_MARK = len(QUIZ)  # all right: see the module docstring


# --- the quiz ------------------------------------------------------------------------------


def grade(answers: Sequence[int]) -> tuple[int, bool]:
    """(score, passed) of ``answers``: the index of the chosen choice of each question of
    ``QUIZ``, in order. InputError unless every question is answered with one of its
    choices (an incomplete quiz is no attempt)."""
    if len(answers) != len(QUIZ):
        raise InputError(f"answer all {len(QUIZ)} questions of the quiz")
    for number, (question, answer) in enumerate(zip(QUIZ, answers, strict=True), 1):
        if isinstance(answer, bool) or not 0 <= answer < len(question.choices):
            raise InputError(f"question {number} has no choice {answer!r}")
    score = sum(a == q.answer for q, a in zip(QUIZ, answers, strict=True))
    return score, score >= PASS_MARK


# --- status --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingStatus:
    """Where ``actor`` stands: the last pass on the trail (None: never), until when it holds,
    whether this actor must hold one before searching or verifying, and whether they do."""

    passed_at: datetime | None
    valid_until: datetime | None
    required: bool
    current: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "passed_at": _iso(self.passed_at),
            "valid_until": _iso(self.valid_until),
            "required": self.required,
            "current": self.current,
            "version": VERSION,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _org(actor: Actor) -> str:
    return actor.org if actor.org is not None else PLATFORM_ORG


def training_course(
    store: AccountabilityStore, catalog: Catalog, settings: Settings, actor: Actor
) -> TrainingContent:
    """The course as ``actor`` reads it: their organisation's policy, and the strangers a
    search expects worked out at the size of the gallery their searches compare against
    (the faces of the collections their organisation sees: never a count that holds
    another organisation's faces; the platform operator, of none, gets the catalog's)."""
    scope = scope_of(store, catalog, actor)
    if scope.everything or actor.org is None:
        faces = int(catalog.stats().get("faces", 0))
    else:
        faces = sum(c.faces for c in catalog.collections() if scope.sees(c.name))
    policy = policy_of(store, actor)
    if actor.org is not None:  # the rule in force: the registry holding a case requires them
        policy = replace(policy, cases_required=store.orgs.get(actor.org).cases_required)
    return training_content(settings, faces, policy)


def training_required(settings: Settings, actor: Actor) -> bool:
    """Whether ``actor`` must pass before searching or verifying: the setting is on, it is
    not the local CLI actor, and its role may search or verify."""
    return (
        settings.accounts.training_required
        and not actor.is_local
        and (can(actor.role, Permission.SEARCH) or can(actor.role, Permission.VERIFY))
    )


def training_status(store: AccountabilityStore, settings: Settings, actor: Actor) -> TrainingStatus:
    """``actor``'s status, read from the trail: its latest ``training_passed`` entry in its
    organisation, current until the ``valid_until`` it records (``VALID_DAYS`` after it, to
    the second), on the store's clock."""
    passes = store.audit.entries(
        org=_org(actor), actor=actor.name, action=Action.TRAINING_PASSED, limit=None
    )
    required = training_required(settings, actor)
    if not passes:
        return TrainingStatus(None, None, required, False)
    last = passes[-1]
    valid_until = _valid_until(last.payload.get("valid_until"), last.time)
    return TrainingStatus(last.time, valid_until, required, store.db.now() < valid_until)


def _valid_until(recorded: object, passed_at: datetime) -> datetime:
    """The end of a pass as its entry records it; ``VALID_DAYS`` after it when unreadable."""
    try:
        until = datetime.fromisoformat(str(recorded))
    except ValueError:
        return passed_at + timedelta(days=VALID_DAYS)
    return until if until.tzinfo is not None else until.replace(tzinfo=UTC)


def require_training(store: AccountabilityStore, settings: Settings, actor: Actor) -> bool:
    """TrainingRequiredError unless ``actor`` may search and verify as far as training goes;
    whether training was waived for it (the caller's entry then says so: ``TRAINING_WAIVED``).
    The local CLI actor is exempt (not waived: it never needs it); with ``training_required``
    off every user is, and the trail says so (``training_waived``, once a day, and a field of
    each search and verification entry)."""
    if actor.is_local:
        return False
    if not settings.accounts.training_required:
        training_waived(store, actor)
        return True
    status = training_status(store, settings, actor)
    if status.required and not status.current:
        when = "" if status.valid_until is None else f" (the last pass expired {_day(status)})"
        raise TrainingRequiredError(
            f"{actor.name} must pass the training and its quiz before searching or "
            f"verifying{when}; it is renewed every year. Take it on the Training page (/training)"
        )
    return False


def _day(status: TrainingStatus) -> str:
    assert status.valid_until is not None
    return status.valid_until.date().isoformat()


def training_waived(store: AccountabilityStore, actor: Actor) -> AuditEntry | None:
    """A ``training_waived`` entry for ``actor`` unless one was written today (UTC) already
    (then None): the trail says that training was not required of them."""
    start = datetime.combine(store.db.now().astimezone(UTC).date(), time(), tzinfo=UTC)
    org = _org(actor)

    def written() -> bool:
        found = store.audit.entries(
            org=org, actor=actor.name, action=Action.TRAINING_WAIVED, since=start, limit=1
        )
        return bool(found)

    if written():  # the usual case: no write transaction
        return None
    with store.db.write():  # check and append as one, so two searches write one entry
        if written():
            return None
        payload = {"setting": "training_required", "value": False, "version": VERSION}
        return store.audit.append(
            actor=actor.name, action=Action.TRAINING_WAIVED, payload=payload, org=org
        )


# --- taking the quiz -----------------------------------------------------------------------


@dataclass(frozen=True)
class QuizResult:
    """One attempt: its score, whether it passed, the questions answered wrong (numbered
    from 1), the status after it, and the seq of its audit entry."""

    score: int
    passed: bool
    wrong: tuple[int, ...]
    status: TrainingStatus
    entry: int

    def as_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "of": len(QUIZ),
            "passed": self.passed,
            "wrong": list(self.wrong),
            "status": self.status.as_json(),
            "audit_entry": self.entry,
        }


def submit_quiz(
    store: AccountabilityStore, settings: Settings, actor: Actor, answers: Sequence[int]
) -> QuizResult:
    """Grade ``answers`` (``grade``) and log the attempt: ``training_passed`` (version,
    score, valid_until) or ``training_failed`` (version, score), in ``actor``'s
    organisation."""
    score, passed = grade(answers)
    wrong = tuple(n for n, (q, a) in enumerate(zip(QUIZ, answers, strict=True), 1) if a != q.answer)
    payload: dict[str, Any] = {"version": VERSION, "score": score}
    with store.db.write():
        if passed:
            until = store.db.now() + timedelta(days=VALID_DAYS)
            payload["valid_until"] = until.isoformat(timespec="seconds")
        action = Action.TRAINING_PASSED if passed else Action.TRAINING_FAILED
        entry = store.audit.append(
            actor=actor.name, action=action, payload=payload, org=_org(actor)
        )
    return QuizResult(score, passed, wrong, training_status(store, settings, actor), entry.seq)
