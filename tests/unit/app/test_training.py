"""app.training: the status read from the trail (a pass holds 365 days on the store's clock),
grading, passed and failed entries, the waiver of a pilot (one entry per user per day), the
local CLI actor's exemption, and the course's numbers and look-alike pairs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from accountability_helpers import PW, FakeClock

from facesearch.accountability import AccountabilityStore, Action, Actor, Role, local_actor
from facesearch.accountability.orgs import OrgPolicy
from facesearch.app import training, training_course
from facesearch.app.training import QUIZ, VALID_DAYS
from facesearch.errors import ConfigError, InputError, TrainingRequiredError
from facesearch.settings import Settings

LOCAL = local_actor("ops")
RIGHT = [q.answer for q in QUIZ]
ONE_WRONG = [(RIGHT[0] + 1) % len(QUIZ[0].choices), *RIGHT[1:]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(env={}, home=tmp_path, lfw_dir=tmp_path / "no-lfw")


@pytest.fixture
def ana(store: AccountabilityStore) -> Actor:
    return store.accounts.add_user("ana", Role.INVESTIGATOR, PW, by=LOCAL)


def _actions(store: AccountabilityStore, name: str) -> list[str]:
    return [e.action for e in store.audit.entries(limit=None) if e.actor == name]


def test_grade_needs_every_answer_right_to_pass() -> None:
    assert training.grade(RIGHT) == (len(QUIZ), True)
    assert training.grade(ONE_WRONG) == (len(QUIZ) - 1, False)
    with pytest.raises(InputError, match="answer all 5"):
        training.grade(RIGHT[:-1])
    with pytest.raises(InputError, match="question 2 has no choice 9"):
        training.grade([RIGHT[0], 9, *RIGHT[2:]])


def test_each_question_has_one_right_answer_among_its_choices() -> None:
    assert len(QUIZ) == 5
    for q in QUIZ:
        assert 0 <= q.answer < len(q.choices) and len(set(q.choices)) == len(q.choices)
        assert "answer" not in q.as_json()


def test_a_user_without_a_pass_is_refused(
    store: AccountabilityStore, settings: Settings, ana: Actor
) -> None:
    status = training.training_status(store, settings, ana)
    assert status == training.TrainingStatus(None, None, required=True, current=False)
    with pytest.raises(TrainingRequiredError, match="ana must pass the training"):
        training.require_training(store, settings, ana)


def test_a_failed_attempt_is_logged_and_does_not_count(
    store: AccountabilityStore, settings: Settings, ana: Actor
) -> None:
    result = training.submit_quiz(store, settings, ana, ONE_WRONG)
    assert (result.score, result.passed, result.wrong) == (4, False, (1,))
    entry = store.audit.get(result.entry)
    assert entry.action == Action.TRAINING_FAILED.value and entry.org == "default"
    assert dict(entry.payload) == {"version": training.VERSION, "score": 4}
    assert not result.status.current
    with pytest.raises(TrainingRequiredError):
        training.require_training(store, settings, ana)


def test_a_pass_holds_for_a_year_on_the_stores_clock(
    store: AccountabilityStore, settings: Settings, ana: Actor, clock: FakeClock
) -> None:
    passed_at = clock.now
    result = training.submit_quiz(store, settings, ana, RIGHT)
    assert result.passed and result.wrong == () and result.status.current
    entry = store.audit.get(result.entry)
    assert entry.action == Action.TRAINING_PASSED.value
    until = passed_at + timedelta(days=VALID_DAYS)
    assert dict(entry.payload) == {
        "version": training.VERSION,
        "score": 5,
        "valid_until": until.isoformat(timespec="seconds"),
    }
    training.require_training(store, settings, ana)

    clock.advance(days=VALID_DAYS - 1)
    status = training.training_status(store, settings, ana)
    assert status.current and status.passed_at == passed_at and status.valid_until == until
    training.require_training(store, settings, ana)

    clock.advance(days=1)
    assert not training.training_status(store, settings, ana).current
    with pytest.raises(TrainingRequiredError, match="expired"):
        training.require_training(store, settings, ana)
    training.submit_quiz(store, settings, ana, RIGHT)  # renewed
    training.require_training(store, settings, ana)


def test_a_pass_is_the_users_own(
    store: AccountabilityStore, settings: Settings, ana: Actor
) -> None:
    ivo = store.accounts.add_user("ivo", Role.INVESTIGATOR, PW, by=LOCAL)
    training.submit_quiz(store, settings, ana, RIGHT)
    assert not training.training_status(store, settings, ivo).current
    with pytest.raises(TrainingRequiredError):
        training.require_training(store, settings, ivo)


def test_a_pass_in_another_organisation_does_not_count(
    store: AccountabilityStore, settings: Settings, ana: Actor
) -> None:
    training.submit_quiz(store, settings, Actor("ana", Role.INVESTIGATOR, "other"), RIGHT)
    assert not training.training_status(store, settings, ana).current


def test_the_local_cli_actor_is_exempt_and_writes_nothing(
    store: AccountabilityStore, settings: Settings
) -> None:
    seq = store.audit.head().seq
    training.require_training(store, settings, LOCAL)
    training.require_training(store, settings.replace(training_required=False), LOCAL)
    assert not training.training_status(store, settings, LOCAL).required
    assert store.audit.head().seq == seq


def test_roles_that_neither_search_nor_verify_are_not_required(
    store: AccountabilityStore, settings: Settings
) -> None:
    aud = store.accounts.add_user("aud", Role.AUDITOR, PW, by=LOCAL)
    assert not training.training_status(store, settings, aud).required


def test_a_pilot_waives_training_once_per_user_per_day(
    store: AccountabilityStore, settings: Settings, ana: Actor, clock: FakeClock
) -> None:
    pilot = settings.replace(training_required=False)
    assert not training.training_status(store, pilot, ana).required
    training.require_training(store, pilot, ana)
    training.require_training(store, pilot, ana)
    assert _actions(store, "ana") == [Action.TRAINING_WAIVED.value]
    entry = store.audit.entries(action=Action.TRAINING_WAIVED, limit=None)[0]
    assert entry.payload["setting"] == "training_required" and entry.org == "default"
    assert training.training_waived(store, ana) is None

    clock.advance(days=1)
    training.require_training(store, pilot, ana)
    assert _actions(store, "ana") == [Action.TRAINING_WAIVED.value] * 2


class _NoFaces:
    """A catalog of no collections (``training_course`` reads its stats and collections)."""

    def stats(self) -> dict[str, int]:
        return {"faces": 0}

    def collections(self) -> list[object]:
        return []


def test_the_course_says_cases_are_required_once_the_registry_holds_one(
    store: AccountabilityStore, settings: Settings, ana: Actor
) -> None:
    words = "Every search names an open case of the case registry"

    def says() -> bool:
        course = training.training_course(store, _NoFaces(), settings, ana)  # type: ignore[arg-type]
        return any(words in line for s in course.sections for line in s.paragraphs)

    assert not says()  # default's policy: false, and its registry is empty
    store.cases.open("K-1", "one", by=LOCAL)
    assert says()


def test_the_course_works_out_the_strangers_at_this_gallery_size(settings: Settings) -> None:
    content = training.training_content(settings, 250_000, OrgPolicy(max_fmr=1e-4))
    assert content.expected_strangers == pytest.approx(25.0)
    text = " ".join(p for s in content.sections for p in s.paragraphs)
    assert "250,000 faces x 0.0001 = 25.00" in text
    assert "about 25 strangers" in text
    assert "1 in 10,000" in text
    policies = content.sections[-1]
    assert policies.title == "Your organisation's policies"
    assert "Two-person rule: on." in policies.paragraphs
    off = training.training_content(settings, 10, OrgPolicy(two_person=False, max_fmr=1e-3))
    assert "Two-person rule: off." in off.sections[-1].paragraphs
    assert "has turned it off" in off.sections[3].paragraphs[1]


def test_lookalikes_without_lfw_say_so_and_carry_no_photos(settings: Settings) -> None:
    content = training.training_content(settings, 100, OrgPolicy())
    assert len(content.lookalikes) == 4
    assert "not at" in content.lookalike_note and "FACESEARCH_LFW_DIR" in content.lookalike_note
    for pair in content.lookalikes:
        first, second = pair.people
        assert first != second  # two different people
        assert pair.photo_a is None and pair.photo_b is None
        assert "different people score this high" in pair.fmr_words


def test_lookalikes_read_their_photos_from_the_lfw_folder(tmp_path: Path) -> None:
    lfw = tmp_path / "lfw"
    shipped = json.loads(
        resources.files("facesearch").joinpath("data", "lookalikes.json").read_text()
    )
    for pair in shipped["pairs"]:
        for rel in (pair["a"], pair["b"]):
            (lfw / "lfw-deepfunneled" / rel).parent.mkdir(parents=True, exist_ok=True)
            (lfw / "lfw-deepfunneled" / rel).write_bytes(rel.encode())
    settings = Settings.from_env(env={}, home=tmp_path, lfw_dir=lfw)
    content = training.training_content(settings, 100, OrgPolicy())
    assert "not at" not in content.lookalike_note
    assert [p.photo_a for p in content.lookalikes] == [p["a"].encode() for p in shipped["pairs"]]
    assert [p.score for p in content.lookalikes] == [p["score"] for p in shipped["pairs"]]


def test_a_policy_without_an_fmr_line_is_worked_out_at_the_reference_rate(
    settings: Settings,
) -> None:
    content = training.training_content(settings, 5_000, OrgPolicy(max_fmr=None))
    assert content.expected_strangers == pytest.approx(5.0)
    text = " ".join(p for s in content.sections for p in s.paragraphs)
    assert "sets no false match rate" in text and "5,000 faces x 0.001 = 5.00" in text
    assert "Candidates are shown whatever they score." in content.sections[-1].paragraphs


def test_the_status_and_the_api_give_the_end_the_entry_records(
    store: AccountabilityStore, settings: Settings, ana: Actor, clock: FakeClock
) -> None:
    """The pass ends when its entry says (to the second), not a recomputed instant a fraction
    of a second later: the page, the API and the trail give one time."""
    clock.advance(seconds=0.7)
    result = training.submit_quiz(store, settings, ana, RIGHT)
    recorded = store.audit.get(result.entry).payload["valid_until"]
    assert result.status.as_json()["valid_until"] == recorded
    assert result.status.valid_until == datetime.fromisoformat(recorded)
    clock.now = datetime.fromisoformat(recorded)
    assert not training.training_status(store, settings, ana).current


@pytest.mark.parametrize("path", ["../x.jpg", "a/../b.jpg", "./x.jpg", "/abs/x.jpg", "a.jpg"])
def test_a_lookalike_path_never_leads_out_of_the_lfw_folder(path: str) -> None:
    with pytest.raises(ConfigError, match="not an LFW image path"):
        training_course.lfw_path(path)
    assert training_course.lfw_path("Kirk_Johnson/Kirk_Johnson_0002.jpg")
