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
