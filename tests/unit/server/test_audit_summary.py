"""The one-line summaries of audit entries on the audit page."""

from __future__ import annotations

from facesearch.server.routes.audit import audit_summary


def test_a_pairs_run_is_summarised_by_its_count_not_as_one_comparison() -> None:
    """A ``verify --pairs`` entry has no single similarity: it said 'similarity None'."""
    entry = {
        "action": "verify",
        "payload": {
            "kind": "pairs",
            "count": 6000,
            "failed": 2,
            "pairs_sha256": "ab" * 32,
            "models": ["sface:fb143eea0783", "dlib_resnet:0123456789ab"],
        },
    }
    text = audit_summary(entry)
    assert "None" not in text
    assert text.startswith("6000 pairs") and "2 without a decision" in text
    assert "dlib_resnet" in text


def test_a_single_verify_keeps_its_similarity() -> None:
    entry = {"action": "verify", "payload": {"similarity": 0.81, "same_person": True}}
    assert audit_summary(entry) == "similarity 0.81, same person: True"


def test_a_failed_verify_says_why_not_similarity_none() -> None:
    """A verify that could not read a photo read 'similarity None, same person: None'."""
    entry = {
        "action": "verify",
        "payload": {"outcome": "image_error", "error": "b.jpg: cannot read file"},
    }
    assert audit_summary(entry) == "failed: image_error: b.jpg: cannot read file"


def test_a_failed_pairs_run_says_why_not_none_pairs() -> None:
    """A pairs run stopped by a malformed line read 'None pairs from a pairs file ()'."""
    entry = {
        "action": "verify",
        "payload": {
            "outcome": "input_error",
            "error": "p.tsv, line 3: expected PATH_A<TAB>PATH_B",
            "kind": "pairs",
        },
    }
    text = audit_summary(entry)
    assert "None" not in text
    assert text == "failed: input_error: p.tsv, line 3: expected PATH_A<TAB>PATH_B"


def test_an_abandoned_ingest_says_so_as_an_interrupted_one_says_it_stopped() -> None:
    counts = {"collection": "c", "images_added": 4, "faces_added": 5, "failed": 1}
    abandoned = {"outcome": "abandoned", "error": "no end logged, and its process is gone"}
    interrupted = {"outcome": "interrupted", "error": "interrupted (Ctrl-C)"}
    for payload, words in (
        (abandoned, "abandoned: no end logged, and its process is gone"),
        (interrupted, "stopped: interrupted (Ctrl-C)"),
    ):
        text = audit_summary({"action": "ingest", "payload": {**counts, **payload}})
        assert text == f"4 images, 5 faces into c; 1 failed ({words})"


def test_an_ingest_stopped_before_its_first_photo_says_none_failed_as_0() -> None:
    """A run stopped before its first batch logs no 'failed' count (nothing was tried): the
    audit page read 'None failed'."""
    payload = {
        "collection": "c",
        "images_added": 0,
        "faces_added": 0,
        "outcome": "interrupted",
        "error": "interrupted (Ctrl-C)",
    }
    text = audit_summary({"action": "ingest", "payload": payload})
    assert text == "0 images, 0 faces into c; 0 failed (stopped: interrupted (Ctrl-C))"


def test_an_ingest_tells_the_photos_the_blocklist_skipped_from_those_that_failed() -> None:
    """The run's entry counts every source not added as failed; the erasure blocklist's
    skips among them (logged as 'blocklisted' since) read as failed on the audit page and
    in the oversight summary, where ``facesearch ingest`` said "1 failed, 2 blocklisted"."""
    from datetime import UTC, datetime

    from facesearch.accountability import Action, AuditEntry
    from facesearch.app.oversight_summaries import ingest_summary

    counts = {"collection": "c", "images_added": 0, "faces_added": 0, "failed": 3}
    new, old = {**counts, "blocklisted": 2}, counts
    assert audit_summary({"action": "ingest", "payload": new}).endswith("; 1 failed, 2 blocklisted")
    assert audit_summary({"action": "ingest", "payload": old}).endswith("; 3 failed")
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    entry = AuditEntry(1, moment, "a", Action.INGEST, None, None, new, "", "")
    assert ingest_summary(entry).endswith("added; 1 failed, 2 blocklisted")


def test_an_upload_job_s_ingest_entries_name_the_job_and_count_in_words() -> None:
    """The page read '1 images, 1 faces into up; 0 failed' and, for the job's run, 'ingest
    started into up (1 path given)': a path no one gave (the job's own folder), and no job
    named (found by the attack pass on upload jobs)."""
    job = {"collection": "up", "upload_job": "a597a6a95d9dfc34"}
    started = {**job, "outcome": "started", "paths_total": 1}
    ended = {**job, "outcome": "ok", "images_added": 1, "faces_added": 1, "failed": 0}
    assert audit_summary({"action": "ingest", "payload": started}) == (
        "ingest started into up (upload job a597a6a95d9dfc34)"
    )
    assert audit_summary({"action": "ingest", "payload": ended}) == (
        "1 image, 1 face into up; 0 failed; upload job a597a6a95d9dfc34"
    )
