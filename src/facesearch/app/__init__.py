"""The application layer: every use of the gallery goes through here, checked and audited.

Frozen requests go in, typed records come out. Each operation (1) checks that the actor may do
it, (2) checks the case number and stated purpose, (3) runs it on the ``Engine``, (4) writes one
audit entry, and returns the record with that entry's id. Nothing is returned that was not
logged: if the entry cannot be written, the call raises. The CLI is no back door: it calls the
same operations as the local actor ``os:<login>`` (``open_local``). The CLI and the server
routes are thin adapters over this package; nothing above it touches a store.

    with open_local(settings) as local:
        record = search(local.engine, local.store, local.actor,
                        SearchRequest("probe.jpg", case="K-1", purpose="robbery, 3 May"))
        print(record.as_json())

Modules: ``search`` (1:N and the faces of a probe), ``verify`` (1:1), ``erase``, ``ingest``
(and ``abandoned_runs``: the end entries of ingests whose process was killed),
``reads`` (who may see what; every read of personal data logged), ``browse`` (the gallery a
page at a time; what an erasure like a photo would take), ``review`` (verdicts under
the two-person rule), ``people`` (persons of a collection: build, read, review),
``records`` (the one search record), ``checks`` (permission, case,
purpose), ``local`` (the application on a local home, for the CLI), ``accounts`` (users and
API tokens), ``trail`` (the audit trail: entries, head, verify, export), ``vector_erasure``
(the vector store's part of an erasure; pending physical deletions), ``cases`` (the case
registry) and ``case_report`` (a case's timeline and report), ``migrate`` (an embedded home
into PostgreSQL + Milvus), ``catalog`` (a catalog in a copied or moved database: fork, adopt),
``limits`` (the server state replicas share), ``quantize`` (the
int8 models), ``training`` and ``training_course`` (the training before a first search, its
quiz, and each user's status on the trail), ``alerts`` (the oversight alert rules) and
``oversight`` (a supervisor's dashboard of their organisation), ``approvals`` (search
requests a supervisor approves before they run).

The names are imported on first use (``facesearch._lazy``): a command that needs one
operation (the CLI's ``embed``) imports its module, not every store behind the others.
"""

import typing as _typing

from facesearch._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from facesearch.app.accounts import (
        Account,
        IssuedToken,
        add_user,
        disable_user,
        enable_user,
        get_account,
        has_users,
        issue_token,
        list_accounts,
        my_tokens,
        password_policy,
        revoke_tokens,
        set_password,
        tokens_of,
    )
    from facesearch.app.alerts import raise_alerts
    from facesearch.app.approvals import (
        ApprovalRequest,
        ApprovalState,
        request_search,
        run_approved,
    )
    from facesearch.app.checks import (
        UPLOADED_PHOTO,
        Failure,
        allow,
        case_required,
        check_case,
    )
    from facesearch.app.erase import EraseRequest, ErasureRecord, erase
    from facesearch.app.ingest import IngestRecord, IngestRequest, ingest
    from facesearch.app.local import Local, open_local
    from facesearch.app.oversight import Dashboard, dashboard, recent_alerts
    from facesearch.app.people import (
        BuildRecord,
        BuildRequest,
        PeopleRecord,
        PersonFace,
        PersonRecord,
        ReviewRecord,
        ReviewRequest,
        build_people,
        list_people,
        merge_persons,
        name_person,
        not_person,
        people_built,
        person_names,
        persons_of,
        show_person,
        split_person,
    )
    from facesearch.app.reads import (
        READS,
        ReviewedSearch,
        export_subject,
        load_search,
        log_read,
        may_see_search,
        probe_of,
        read_candidate,
        read_gallery,
        read_search,
        search_record,
        visible_search,
    )
    from facesearch.app.records import GalleryFace, HitRecord, ProbeFaceRecord, SearchRecord
    from facesearch.app.review import (
        DecideRequest,
        PendingCandidate,
        RecentSearch,
        decide,
        pending,
        recent_searches,
    )
    from facesearch.app.search import (
        DetectedFace,
        SearchRequest,
        detect,
        record_failed_search,
        search,
        search_answer,
    )
    from facesearch.app.trail import (
        AuditFilter,
        audit_entries,
        audit_entry,
        audit_head,
        export_audit,
        open_store,
        parse_action,
        trail_files,
        verify_audit,
    )
    from facesearch.app.training import (
        QuizResult,
        TrainingContent,
        TrainingStatus,
        require_training,
        submit_quiz,
        training_content,
        training_status,
        training_waived,
    )
    from facesearch.app.vector_erasure import ErasureStatus, VectorStoreErasure, erasure_status
    from facesearch.app.verify import VerifyRecord, VerifyRequest, record_failed_verify, verify
else:  # each name imported from its module on first use
    __getattr__, __dir__ = _lazy_exports(
        __name__,
        {
            "facesearch.app.accounts": (
                "Account",
                "IssuedToken",
                "add_user",
                "disable_user",
                "enable_user",
                "get_account",
                "has_users",
                "issue_token",
                "list_accounts",
                "my_tokens",
                "password_policy",
                "revoke_tokens",
                "set_password",
                "tokens_of",
            ),
            "facesearch.app.alerts": ("raise_alerts",),
            "facesearch.app.approvals": (
                "ApprovalRequest",
                "ApprovalState",
                "request_search",
                "run_approved",
            ),
            "facesearch.app.checks": (
                "UPLOADED_PHOTO",
                "Failure",
                "allow",
                "case_required",
                "check_case",
            ),
            "facesearch.app.erase": ("EraseRequest", "ErasureRecord", "erase"),
            "facesearch.app.ingest": ("IngestRecord", "IngestRequest", "ingest"),
            "facesearch.app.local": ("Local", "open_local"),
            "facesearch.app.oversight": ("Dashboard", "dashboard", "recent_alerts"),
            "facesearch.app.people": (
                "BuildRecord",
                "BuildRequest",
                "PeopleRecord",
                "PersonFace",
                "PersonRecord",
                "ReviewRecord",
                "ReviewRequest",
                "build_people",
                "list_people",
                "merge_persons",
                "name_person",
                "not_person",
                "people_built",
                "person_names",
                "persons_of",
                "show_person",
                "split_person",
            ),
            "facesearch.app.reads": (
                "READS",
                "ReviewedSearch",
                "export_subject",
                "load_search",
                "log_read",
                "may_see_search",
                "probe_of",
                "read_candidate",
                "read_gallery",
                "read_search",
                "search_record",
                "visible_search",
            ),
            "facesearch.app.records": (
                "GalleryFace",
                "HitRecord",
                "ProbeFaceRecord",
                "SearchRecord",
            ),
            "facesearch.app.review": (
                "DecideRequest",
                "PendingCandidate",
                "RecentSearch",
                "decide",
                "pending",
                "recent_searches",
            ),
            "facesearch.app.search": (
                "DetectedFace",
                "SearchRequest",
                "detect",
                "record_failed_search",
                "search",
                "search_answer",
            ),
            "facesearch.app.trail": (
                "AuditFilter",
                "audit_entries",
                "audit_entry",
                "audit_head",
                "export_audit",
                "open_store",
                "parse_action",
                "trail_files",
                "verify_audit",
            ),
            "facesearch.app.training": (
                "QuizResult",
                "TrainingContent",
                "TrainingStatus",
                "require_training",
                "submit_quiz",
                "training_content",
                "training_status",
                "training_waived",
            ),
            "facesearch.app.vector_erasure": (
                "ErasureStatus",
                "VectorStoreErasure",
                "erasure_status",
            ),
            "facesearch.app.verify": (
                "VerifyRecord",
                "VerifyRequest",
                "record_failed_verify",
                "verify",
            ),
        },
    )

__all__ = [
    "READS",
    "UPLOADED_PHOTO",
    "Account",
    "ApprovalRequest",
    "ApprovalState",
    "AuditFilter",
    "BuildRecord",
    "BuildRequest",
    "Dashboard",
    "DecideRequest",
    "DetectedFace",
    "EraseRequest",
    "ErasureRecord",
    "ErasureStatus",
    "Failure",
    "GalleryFace",
    "HitRecord",
    "IngestRecord",
    "IngestRequest",
    "IssuedToken",
    "Local",
    "PendingCandidate",
    "PeopleRecord",
    "PersonFace",
    "PersonRecord",
    "ProbeFaceRecord",
    "QuizResult",
    "RecentSearch",
    "ReviewRecord",
    "ReviewRequest",
    "ReviewedSearch",
    "SearchRecord",
    "SearchRequest",
    "TrainingContent",
    "TrainingStatus",
    "VectorStoreErasure",
    "VerifyRecord",
    "VerifyRequest",
    "add_user",
    "allow",
    "audit_entries",
    "audit_entry",
    "audit_head",
    "build_people",
    "case_required",
    "check_case",
    "dashboard",
    "decide",
    "detect",
    "disable_user",
    "enable_user",
    "erase",
    "erasure_status",
    "export_audit",
    "export_subject",
    "get_account",
    "has_users",
    "ingest",
    "issue_token",
    "list_accounts",
    "list_people",
    "load_search",
    "log_read",
    "may_see_search",
    "merge_persons",
    "my_tokens",
    "name_person",
    "not_person",
    "open_local",
    "open_store",
    "parse_action",
    "password_policy",
    "pending",
    "people_built",
    "person_names",
    "persons_of",
    "probe_of",
    "raise_alerts",
    "read_candidate",
    "read_gallery",
    "read_search",
    "recent_alerts",
    "recent_searches",
    "record_failed_search",
    "record_failed_verify",
    "request_search",
    "require_training",
    "revoke_tokens",
    "run_approved",
    "search",
    "search_answer",
    "search_record",
    "set_password",
    "show_person",
    "split_person",
    "submit_quiz",
    "tokens_of",
    "trail_files",
    "training_content",
    "training_status",
    "training_waived",
    "verify",
    "verify_audit",
    "visible_search",
]
