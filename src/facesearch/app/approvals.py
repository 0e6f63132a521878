"""Search approval: where an organisation's policy says so (``OrgPolicy.search_approval``), a
supervisor approves each search before it runs.

    request = request_search(engine, store, investigator, SearchRequest(photo, case=..., ...))
    approve(store, supervisor, request.id, "proportionate: armed robbery")
    record = run_approved(engine, store, investigator, request.id)
    revoke(store, supervisor, request.id, "the suspect was arrested")  # before a run only

Each step is one audit entry in the organisation: ``search_request`` (the probe's sha256 and
name, the case, purpose and parameters; its seq is the request's id), ``search_approve`` or
``search_deny`` (``request_seq``, ``note``), and the search itself, whose payload names the
request (``approval``) and the claim it ran under (``claim``); ``search_revoke``
(``request_seq``, ``note``) withdraws an approval before its run. A request's state is read
from those entries, never stored apart: pending, then approved or denied (the first decision
counts: a decision reads the state and writes its entry in one write transaction, so a second
one at the same time is refused), then running, then run (a search that ran with it) or
approved again (a failed attempt is logged with it too but leaves it approved). A
supervisor may revoke an approved request that no run holds (an approval given by mistake, or
no longer needed): it is then ``revoked`` and never runs; the revocation reads the state and
writes its entry in one write transaction, as a decision and a run's claim do, so that of a
revocation and a run at the same time exactly one happens.

Running: a search under a request first claims it (``claim_approval``): it reads the state
and logs a ``search_run_claim`` entry (``request_seq``, ``until``) in one write transaction
(BEGIN IMMEDIATE on SQLite, the advisory lock on PostgreSQL), so that of two runs at once --
in two processes on one home, two servers behind one proxy, the CLI and a server, replicas
on one PostgreSQL -- the second is refused ("running or ran already") while the first is
under way, and after it once it ran. The claim ends with its search's entry: ``ok`` makes
the request run; a failed attempt's entry (naming the claim) releases it, approved again. A
claim no entry of its end follows (its process died, or an error that is not a
FaceSearchError stopped the search) holds for ``CLAIM_TTL`` from its entry, then lapses and
the request may run again: long past any search (a server answers 503 after
``server_request_timeout``), short enough that an investigator can retry the same day. A
run that outlived its claim (a search longer than ``CLAIM_TTL``) is still logged: its entry
and a later run's then both name the request.

A search runs under a request only as approved: its probe's bytes, and every parameter the
request recorded (case, purpose, collections, ``REQUEST_OPTIONS``); one that differs is
refused before it starts, with an InputError naming the difference (the Python API lets a
caller pass ``approval=`` with any search; ``run_approved`` takes them all from the
request), and logged as a ``case_refused`` entry (reason ``not_as_approved``), which the
supervisor's dashboard lists. The probe's bytes are kept from the request on
(``ProbeStore``), for the organisation's probe retention: the entry says until when
(``probe_kept_until``, as a search's does), and an approved request whose probe has ended
for its organisation, or that an erasure of it took since, no longer runs.

Only the organisation's supervisors see its requests (another organisation's request answers
NotFoundError, as an unknown one does), and no one decides their own; an investigator sees
and runs only their own, once each. The local CLI user needs no approval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.accountability.permissions import can
from facesearch.accountability.text_checks import MAX_PURPOSE_CHARS, clean_text
from facesearch.app.checks import (
    allow,
    bytes_of,
    check_decision,
    check_top,
    check_use,
    iso,
    log,
    now,
    sha256,
)
from facesearch.app.reads import probe_kept
from facesearch.app.records import OUTCOME_OK, SearchRecord
from facesearch.app.scope import policy_of, retention_days, scope_of
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, InputError, NotFoundError, PermissionDeniedError

if TYPE_CHECKING:
    from facesearch.app.search import SearchRequest

__all__ = [
    "ApprovalRequest",
    "ApprovalState",
    "approve",
    "check_approval",
    "claim_approval",
    "deny",
    "get_request",
    "needs_approval",
    "request_search",
    "requests",
    "revoke",
    "run_approved",
]

# the options of a search a request fixes (SearchRequest's fields of the same names)
REQUEST_OPTIONS = ("top", "max_fmr", "threshold", "face", "allow_poor")
# their defaults other than None (SearchRequest's), for entries written before they were logged
OPTION_DEFAULTS: dict[str, Any] = {"allow_poor": False}
# how much earlier than its request a decision's clock may read (the entries' seqs decide)
CLOCK_SLACK = timedelta(minutes=5)
# how long a run's claim holds its request when no entry of its search follows (its process
# died): then the request may run again
CLAIM_TTL = timedelta(minutes=15)


class ApprovalState(StrEnum):
    PENDING = "pending"  # waiting for a supervisor
    APPROVED = "approved"  # its requester may run it, once
    DENIED = "denied"
    RUNNING = "running"  # a run claimed it and has not ended (``claim_approval``)
    RUN = "run"  # a search ran with it
    REVOKED = "revoked"  # approved, then withdrawn by a supervisor before any run


@dataclass(frozen=True)
class ApprovalRequest:
    """A search request as the trail holds it: ``id`` is its ``search_request`` entry's seq."""

    id: int
    time: datetime
    requester: str
    org: str | None
    case: str | None
    purpose: str | None
    probe: str  # what the probe was called
    probe_sha256: str
    collections: tuple[str, ...] | None  # None: every collection of the organisation's scope
    options: Mapping[str, Any]  # REQUEST_OPTIONS
    state: ApprovalState = ApprovalState.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None
    decision_id: int | None = None  # the approve or deny entry
    search_id: int | None = None  # the search that ran it
    claim_id: int | None = None  # running: the ``search_run_claim`` entry of the run
    claimed_until: datetime | None = None  # running: when that claim lapses
    revoked_by: str | None = None  # revoked: the supervisor, when and why
    revoked_at: datetime | None = None
    revoke_note: str | None = None
    # False once its probe ended for the organisation (retention, or its erasure took it):
    # it can no longer be approved or run (read for pending and approved requests only)
    probe_kept: bool = True

    def payload(self) -> dict[str, Any]:
        """The ``search_request`` entry's payload."""
        return {
            "probe": self.probe,
            "probe_sha256": self.probe_sha256,
            "parameters": {
                **self.options,
                "collections": list(self.collections) if self.collections else None,
            },
        }

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> ApprovalRequest:
        p = entry.payload
        parameters = dict(p.get("parameters") or {})
        collections = parameters.pop("collections", None)
        return cls(
            id=entry.seq,
            time=entry.time,
            requester=entry.actor,
            org=entry.org,
            case=entry.case,
            purpose=entry.purpose,
            probe=str(p.get("probe") or "the probe photo"),
            probe_sha256=str(p.get("probe_sha256")),
            collections=tuple(collections) if collections else None,
            options={k: parameters.get(k) for k in REQUEST_OPTIONS},
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "requester": self.requester,
            "case": self.case,
            "purpose": self.purpose,
            "probe": self.probe,
            "probe_sha256": self.probe_sha256,
            "parameters": self.payload()["parameters"],
            "state": self.state.value,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "note": self.note,
            "decision_id": self.decision_id,
            "search_id": self.search_id,
            "claimed_until": self.claimed_until.isoformat() if self.claimed_until else None,
            "revoked_by": self.revoked_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoke_note": self.revoke_note,
            "probe_kept": self.probe_kept,
        }


def needs_approval(store: AccountabilityStore, actor: Actor) -> bool:
    """Whether ``actor``'s searches wait for a supervisor's approval (the organisation's
    policy; never the local CLI user's)."""
    return not actor.is_local and policy_of(store, actor).search_approval


def request_search(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: SearchRequest
) -> ApprovalRequest:
    """Ask a supervisor to approve a search: checked like the search itself (permission,
    case, purpose, collections in scope), its probe kept, logged as ``search_request``."""
    check_decision(request.threshold, request.max_fmr)
    check_top(request.top)
    case, purpose = check_use(
        store, actor, Permission.SEARCH, request.case, request.purpose, settings=engine.settings
    )
    if not needs_approval(store, actor):
        raise InputError("your organisation's searches need no approval: search directly")
    scope_of(store, engine.catalog, actor).search_collections(request.collections)
    known = {c.name for c in engine.catalog.collections()}
    for collection in request.collections or ():
        if collection not in known:  # the organisation's scope allows it, but it is not there
            raise NotFoundError(f"no collection named {collection!r}")
    data, name = bytes_of(engine, request.probe, request.name)
    days = retention_days(store, actor, engine.settings.probe.retention_days)
    digest = sha256(data)  # the name ``store.probes.keep`` gives it, in ``log`` below
    asked = ApprovalRequest(
        id=0,
        time=now(),  # the entry's time replaces it
        requester=actor.name,
        org=actor.org,
        case=case,
        purpose=purpose,
        probe=name,
        probe_sha256=digest,
        collections=tuple(dict.fromkeys(request.collections)) if request.collections else None,
        options={k: getattr(request, k) for k in REQUEST_OPTIONS},
    )
    # the probe commits with the entry that names it (an erasure never sees one without it)
    payload = asked.payload()
    # when its probe ends for this organisation (the bytes may stay longer for another's)
    payload["probe_kept_until"] = iso(store.db.now() + timedelta(days=days))
    entry = log(
        store, actor, Action.SEARCH_REQUEST, case, purpose, payload, keep_probe=(data, days)
    )
    return replace(asked, id=entry.seq, time=entry.time, org=entry.org)


def approve(
    store: AccountabilityStore, actor: Actor, seq: int, note: str | None
) -> ApprovalRequest:
    """Approve request ``seq``: its requester may then run it, once."""
    return _decide(store, actor, seq, note, Action.SEARCH_APPROVE)


def deny(store: AccountabilityStore, actor: Actor, seq: int, note: str | None) -> ApprovalRequest:
    """Deny request ``seq``: it can never run."""
    return _decide(store, actor, seq, note, Action.SEARCH_DENY)


def revoke(store: AccountabilityStore, actor: Actor, seq: int, note: str | None) -> ApprovalRequest:
    """Withdraw the approval of request ``seq`` before it runs (a supervisor of its
    organisation): it is then revoked and never runs. Refused for a request that is not
    approved, or that a run holds or ran (``running``, ``run``)."""
    allow(actor, Permission.SUPERVISE)
    text = clean_text(note, "the note", MAX_PURPOSE_CHARS, one_line=False)
    # the state read and the revocation written in one write transaction, as a run's claim
    # is: of a revocation and a run at the same time, exactly one happens
    with store.db.write():
        found = _request(store, actor, seq)
        if found.state is ApprovalState.PENDING:
            raise InputError(f"search request {seq} is pending: deny it instead")
        if found.state is not ApprovalState.APPROVED:
            raise InputError(
                f"search request {seq} is {found.state.value}: only an approved request "
                "that no run holds can be revoked"
            )
        payload = {"request_seq": seq, "note": text}
        entry = log(store, actor, Action.SEARCH_REVOKE, found.case, found.purpose, payload)
    return replace(
        found,
        state=ApprovalState.REVOKED,
        revoked_by=entry.actor,
        revoked_at=entry.time,
        revoke_note=text,
    )


def _decide(
    store: AccountabilityStore, actor: Actor, seq: int, note: str | None, action: Action
) -> ApprovalRequest:
    allow(actor, Permission.SUPERVISE)
    text = clean_text(note, "the note", MAX_PURPOSE_CHARS, one_line=False)
    # the state read and the decision written in one write transaction: two supervisors
    # deciding at once would otherwise both read ``pending`` and both be told their decision
    # holds, while only the first entry counts (an approve told "denied", or the reverse)
    with store.db.write():
        found = _request(store, actor, seq)
        if found.state is not ApprovalState.PENDING:
            raise InputError(f"search request {seq} is {found.state.value} already")
        if not found.probe_kept and action is Action.SEARCH_APPROVE:
            raise NotFoundError(_gone(seq))
        if found.requester == actor.name:
            raise PermissionDeniedError("no one approves or denies their own search request")
        payload = {"request_seq": seq, "note": text}
        entry = log(store, actor, action, found.case, found.purpose, payload)
    state = ApprovalState.APPROVED if action is Action.SEARCH_APPROVE else ApprovalState.DENIED
    return replace(
        found,
        state=state,
        decided_by=entry.actor,
        decided_at=entry.time,
        note=text,
        decision_id=entry.seq,
    )


def requests(
    store: AccountabilityStore, actor: Actor, *, pending_only: bool = False
) -> list[ApprovalRequest]:
    """The requests ``actor`` may see, newest first: a supervisor's (and the local CLI
    user's) are the organisation's, an investigator's their own."""
    org = _org_of(actor)
    mine = _sees_only_own(actor)
    found = store.audit.entries(
        org=org, actor=actor.name if mine else None, action=Action.SEARCH_REQUEST, limit=None
    )
    asked = [ApprovalRequest.from_entry(e) for e in found]
    states = _with_kept_probes(store, found, _with_states(store, org, asked))
    if pending_only:
        states = [r for r in states if r.state is ApprovalState.PENDING]
    return sorted(states, key=lambda r: r.id, reverse=True)


def get_request(store: AccountabilityStore, actor: Actor, seq: int) -> ApprovalRequest:
    """Request ``seq``, if ``actor`` may see it (NotFoundError otherwise)."""
    found = _request(store, actor, seq)
    if _sees_only_own(actor) and found.requester != actor.name:
        raise NotFoundError(f"no search request {seq}")
    return found


def run_approved(
    engine: Engine, store: AccountabilityStore, actor: Actor, seq: int
) -> SearchRecord:
    """Run approved request ``seq`` as its requester: the kept probe, the parameters asked
    for; the search's entry names the request (``approval``)."""
    from facesearch.app.search import SearchRequest, search  # search.py checks approvals

    allow(actor, Permission.SEARCH)
    found = get_request(store, actor, seq)
    _check_runnable(found, actor)
    gone = NotFoundError(_gone(seq))
    # kept for the organisation's own retention, and not taken by its erasure since: the
    # bytes may stay longer for another organisation's record (``reads.probe_kept``)
    if not found.probe_kept:  # read with its state (``_with_kept_probes``)
        raise gone
    try:
        data = store.probes.get(found.probe_sha256)
    except NotFoundError as exc:
        raise gone from exc
    request = SearchRequest(
        data,
        case=found.case,
        purpose=found.purpose,
        name=found.probe,
        collections=found.collections,
        approval=seq,
        **found.options,
    )
    return search(engine, store, actor, request)


def check_approval(
    store: AccountabilityStore,
    actor: Actor,
    request: SearchRequest,
    case: str | None,
    purpose: str | None,
) -> None:
    """PermissionDeniedError unless ``actor`` may search ``request`` now: with no
    ``approval`` when their organisation needs none, else under request ``approval``,
    approved, not run, theirs, and for these very bytes; InputError naming the difference
    unless the search is the one approved in every parameter the request recorded: ``case``
    and ``purpose`` (as checked), collections and options (``REQUEST_OPTIONS``)."""
    if request.approval is None:
        if needs_approval(store, actor):
            raise PermissionDeniedError(
                "this organisation's searches need a supervisor's approval first: request one"
            )
        return
    unlike = _unlike(_runnable(store, actor, request.approval), request, case, purpose)
    if unlike is not None:
        raise unlike.error


def claim_approval(
    store: AccountabilityStore,
    actor: Actor,
    request: SearchRequest,
    case: str | None,
    purpose: str | None,
) -> int | None:
    """``check_approval``, and for a search under a request, claim it for this run: the
    state read and the ``search_run_claim`` entry written in one write transaction, so that
    a second run at the same time, in this process or another on the same trail, is refused.
    A search that is not the one approved is refused and logged as a ``case_refused`` entry
    (reason ``not_as_approved``, the request and the differences), which the supervisor's
    dashboard lists. Returns the claim's seq (None: no request), which the search's entry
    names (``claim``): that entry ends the claim (see the module's docstring). Called by
    ``search.search``."""
    if request.approval is None:
        check_approval(store, actor, request, case, purpose)
        return None
    with store.db.write():
        found = _runnable(store, actor, request.approval)
        unlike = _unlike(found, request, case, purpose)
        if unlike is not None:  # written with the transaction, raised once it commits
            refused = {
                "attempt": Permission.SEARCH.value,
                "reason": "not_as_approved",
                "request_seq": found.id,
                "differences": unlike.differences,
                "outcome": unlike.error.code,
                "error": str(unlike.error),
            }
            log(store, actor, Action.CASE_REFUSED, case, purpose, refused)
        else:
            until = store.db.now() + CLAIM_TTL
            payload = {"request_seq": found.id, "until": iso(until)}
            claim = log(store, actor, Action.SEARCH_RUN_CLAIM, case, purpose, payload)
    if unlike is not None:
        raise unlike.error
    return claim.seq


def _runnable(store: AccountabilityStore, actor: Actor, seq: int) -> ApprovalRequest:
    """Request ``seq`` if ``actor`` may run it now (theirs, approved, no run holding it, its
    probe still kept); the refusal otherwise."""
    found = get_request(store, actor, seq)
    _check_runnable(found, actor)
    if not found.probe_kept:  # its retention over, or its organisation's erasure took it
        raise NotFoundError(_gone(found.id))
    return found


@dataclass(frozen=True)
class _Unlike:
    """How a search differs from the request it runs under, and the refusal saying so."""

    differences: list[str]
    error: FaceSearchError


def _unlike(
    found: ApprovalRequest, request: SearchRequest, case: str | None, purpose: str | None
) -> _Unlike | None:
    """None when ``request`` is the search ``found`` approved: the same probe photo and every
    recorded parameter (``_differences``); else what differs and the refusal."""
    if not isinstance(request.probe, bytes) or sha256(request.probe) != found.probe_sha256:
        return _Unlike(
            ["another probe photo"],
            PermissionDeniedError(
                f"search request {found.id} was approved for another probe photo"
            ),
        )
    differences = _differences(found, request, case, purpose)
    if not differences:
        return None
    return _Unlike(
        differences,
        InputError(
            f"search request {found.id} was approved with {'; '.join(differences)}: "
            "search as approved, or request this search again"
        ),
    )


def _differences(
    found: ApprovalRequest, request: SearchRequest, case: str | None, purpose: str | None
) -> list[str]:
    """What of the search ``request`` (its checked ``case`` and ``purpose``) differs from
    what ``found`` asked for, each as "what approved, not what given"."""
    compared: dict[str, tuple[Any, Any]] = {
        "case": (found.case, case),
        "purpose": (found.purpose, purpose),
        "collections": (_collection_set(found.collections), _collection_set(request.collections)),
    }
    for name in REQUEST_OPTIONS:
        compared[name] = (
            _option(name, found.options.get(name)),
            _option(name, getattr(request, name)),
        )
    return [
        f"{name} {_shown(approved)}, not {_shown(given)}"
        for name, (approved, given) in compared.items()
        if approved != given
    ]


def _collection_set(collections: Sequence[str] | None) -> frozenset[str] | None:
    """Collections as a request names them: a set (their order searches the same), None for
    every collection of the organisation's scope."""
    return frozenset(collections) if collections else None


def _option(name: str, value: Any) -> Any:
    """An option's value, its default where unset (an entry written before it was logged)."""
    return OPTION_DEFAULTS.get(name) if value is None else value


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, frozenset):
        return "[" + ", ".join(repr(c) for c in sorted(value)) + "]"
    return repr(value)


def _gone(seq: int) -> str:
    return (
        f"the probe of search request {seq} is no longer kept (its retention period "
        "ended, or an erasure took it): request the search again"
    )


def _check_runnable(found: ApprovalRequest, actor: Actor) -> None:
    if found.requester != actor.name:
        raise NotFoundError(f"no search request {found.id}")
    if found.state is ApprovalState.PENDING:
        raise PermissionDeniedError(f"search request {found.id} waits for a supervisor")
    if found.state is ApprovalState.DENIED:
        raise PermissionDeniedError(f"search request {found.id} was denied")
    if found.state is ApprovalState.REVOKED:
        raise PermissionDeniedError(
            f"search request {found.id}'s approval was revoked by {found.revoked_by}"
        )
    if found.state is ApprovalState.RUNNING:
        until = found.claimed_until.isoformat(timespec="seconds") if found.claimed_until else ""
        raise InputError(
            f"search request {found.id} is running or ran already (a run of it started and has "
            f"not ended; should it have stopped without a word, the request runs again from "
            f"{until})"
        )
    if found.state is ApprovalState.RUN:
        raise InputError(
            f"search request {found.id} is running or ran already (search {found.search_id} ran it)"
        )


# --- the state of requests, read from the trail ---------------------------------------------


def _org_of(actor: Actor) -> str:
    if actor.org is None:  # the platform operator: no organisation, no requests
        raise PermissionDeniedError(f"{actor.name} belongs to no organisation")
    return actor.org


def _sees_only_own(actor: Actor) -> bool:
    """An investigator sees their own requests; a supervisor and the local CLI user the
    organisation's; anyone else none."""
    if actor.is_local or can(actor.role, Permission.SUPERVISE):
        return False
    allow(actor, Permission.SEARCH)
    return True


def _request(store: AccountabilityStore, actor: Actor, seq: int) -> ApprovalRequest:
    """Request ``seq`` of ``actor``'s organisation with its state; NotFoundError if there is
    none there (another organisation's included)."""
    org = _org_of(actor)
    try:
        entry = store.audit.get(seq, org=org)
    except NotFoundError:
        entry = None
    if entry is None or entry.action != Action.SEARCH_REQUEST:
        raise NotFoundError(f"no search request {seq}")
    return _with_kept_probes(
        store, [entry], _with_states(store, org, [ApprovalRequest.from_entry(entry)])
    )[0]


def _with_kept_probes(
    store: AccountabilityStore, entries: list[AuditEntry], asked: list[ApprovalRequest]
) -> list[ApprovalRequest]:
    """``asked`` (the requests of ``entries``) with ``probe_kept`` read for those that may
    still run: pending or approved (``reads.probe_kept``)."""
    by_seq = {e.seq: e for e in entries}
    live = (ApprovalState.PENDING, ApprovalState.APPROVED)
    return [
        replace(r, probe_kept=probe_kept(store, by_seq[r.id])) if r.state in live else r
        for r in asked
    ]


def _with_states(
    store: AccountabilityStore, org: str, asked: list[ApprovalRequest]
) -> list[ApprovalRequest]:
    """``asked`` with their states: the first decision on each (logged since the first
    request), and for those approved, the search that ran with it and the claim of a run
    not ended (logged since the first of them)."""
    if not asked:
        return []
    ids = {r.id for r in asked}
    decisions: dict[int, AuditEntry] = {}
    for e in _since(store, org, (Action.SEARCH_APPROVE, Action.SEARCH_DENY), asked):
        asked_for = _int(e.payload.get("request_seq"))
        if asked_for in ids and asked_for not in decisions:
            decisions[asked_for] = e
    approved = [r for r in asked if _approves(decisions.get(r.id))]
    revoked: dict[int, AuditEntry] = {}
    for e in _since(store, org, (Action.SEARCH_REVOKE,), approved):
        withdrawn = _int(e.payload.get("request_seq"))
        if withdrawn in ids and withdrawn not in revoked:
            revoked[withdrawn] = e
    runs: dict[int, int] = {}
    claims: dict[int, AuditEntry] = {}  # each request's last claim, unless a failure ended it
    for e in _since(store, org, (Action.SEARCH, Action.SEARCH_RUN_CLAIM), approved):
        if e.action == Action.SEARCH_RUN_CLAIM:
            claimed = _int(e.payload.get("request_seq"))
            if claimed in ids:
                claims[claimed] = e
            continue
        ran = _int(e.payload.get("approval"))
        if ran not in ids:
            continue
        if e.payload.get("outcome") == OUTCOME_OK:
            runs.setdefault(ran, e.seq)
        elif ran in claims and _int(e.payload.get("claim")) == claims[ran].seq:
            del claims[ran]  # its run failed: the request is approved again
    moment = store.db.now()
    held = {n: c for n, c in claims.items() if _claimed_until(c) > moment}
    return [
        _state_of(r, decisions.get(r.id), runs.get(r.id), held.get(r.id), revoked.get(r.id))
        for r in asked
    ]


def _claimed_until(claim: AuditEntry) -> datetime:
    """When ``claim`` lapses: its ``until``, else ``CLAIM_TTL`` after its entry."""
    try:
        return datetime.fromisoformat(str(claim.payload["until"]))
    except (KeyError, ValueError):
        return claim.time + CLAIM_TTL


def _since(
    store: AccountabilityStore,
    org: str,
    actions: tuple[Action, ...],
    asked: list[ApprovalRequest],
) -> list[AuditEntry]:
    """The organisation's entries of ``actions`` that may follow one of ``asked``, in seq
    order."""
    if not asked:
        return []
    since = min(r.time for r in asked) - CLOCK_SLACK
    found = [
        e
        for action in actions
        for e in store.audit.entries(org=org, action=action, since=since, limit=None)
    ]
    return sorted(found, key=lambda e: e.seq)


def _approves(decision: AuditEntry | None) -> bool:
    return decision is not None and decision.action == Action.SEARCH_APPROVE


def _state_of(
    asked: ApprovalRequest,
    decision: AuditEntry | None,
    run: int | None,
    claim: AuditEntry | None,
    revocation: AuditEntry | None = None,
) -> ApprovalRequest:
    if decision is None:
        return asked
    approved = _approves(decision)
    state = ApprovalState.APPROVED if approved else ApprovalState.DENIED
    if approved and run is not None:  # a search ran: the record says so, whatever followed
        state = ApprovalState.RUN
    elif approved and revocation is not None:  # a claim after it was refused
        state = ApprovalState.REVOKED
        asked = replace(
            asked,
            revoked_by=revocation.actor,
            revoked_at=revocation.time,
            revoke_note=revocation.payload.get("note"),
        )
    elif approved and claim is not None:
        state = ApprovalState.RUNNING
        asked = replace(asked, claim_id=claim.seq, claimed_until=_claimed_until(claim))
    return replace(
        asked,
        state=state,
        decided_by=decision.actor,
        decided_at=decision.time,
        note=decision.payload.get("note"),
        decision_id=decision.seq,
        search_id=run if approved else None,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
