"""The course of the training (``app/training.py``): its sections, the look-alike pairs from
LFW, and the quiz's questions.

``training_content`` writes the course for a gallery of a given size under an organisation's
policies: what a candidate is (a lead), what a false match rate means at this gallery's size
(the expected number of strangers above the organisation's ``max_fmr``, worked out), look-alike
pairs of different people from LFW that SFace scores high (``data/lookalikes.json``, measured
with the default pipeline on all of LFW; their photos when ``settings.lfw_dir`` holds LFW), the
two-person rule, what to do before acting, and the organisation's policies in words. ``QUIZ``
asks five questions of one right answer each.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from facesearch.accountability.orgs import OrgPolicy
from facesearch.core.calibration import describe_expected, describe_fmr, load_table
from facesearch.errors import ConfigError
from facesearch.settings import Settings

__all__ = [
    "QUIZ",
    "REFERENCE_FMR",
    "VERSION",
    "Lookalike",
    "Question",
    "Section",
    "TrainingContent",
    "lfw_path",
    "training_content",
]

VERSION = 1  # of the course and its quiz, in every training entry's payload
REFERENCE_FMR = 1e-3  # the line the course works an example with when the policy sets none
LOOKALIKES = "lookalikes.json"
LFW_IMAGES = "lfw-deepfunneled"
_LFW_PATH = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*\.jpg", re.ASCII)  # never ..


# --- the quiz ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    answer: int  # the index of the right choice

    def as_json(self) -> dict[str, Any]:
        """The question as clients see it: never the answer."""
        return {"text": self.text, "choices": list(self.choices)}


QUIZ: tuple[Question, ...] = (
    Question(
        "A search returns a candidate with a high score. What is that candidate?",
        (
            "An identification: the person in the probe photo is the candidate",
            "A lead: a person to check by other means, never an identification on its own",
            "Proof enough to act on when the score is above 0.9",
        ),
        1,
    ),
    Question(
        "The gallery holds 1,000,000 faces and candidates are shown down to a false match "
        "rate (FMR) of 1e-4, 1 in 10,000. You search a photo of someone who is not in the "
        "gallery. How many strangers do you expect to score that high?",
        (
            "None: a rate that low means no false candidates",
            "About 1",
            "About 100",
            "About 10,000",
        ),
        2,
    ),
    Question(
        "What does the two-person rule mean?",
        (
            "A candidate is confirmed only when two different people have each confirmed it",
            "Two searches must return the same candidate",
            "Two people must appear in the probe photo",
        ),
        0,
    ),
    Question(
        "What do you do with a candidate before acting on it?",
        (
            "Act at once if the score is high and the faces look alike",
            "Search again with another photo and act if the same person comes back",
            "Check it independently (other evidence and records), then record your decision",
        ),
        2,
    ),
    Question(
        "May you search without a case?",
        (
            "Yes, when it is urgent",
            "Yes, to try the system on a colleague's photo",
            "No: every search names a case and its purpose, and is recorded in the audit trail",
        ),
        2,
    ),
)


# --- the course ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "paragraphs": list(self.paragraphs)}


@dataclass(frozen=True)
class Lookalike:
    """Two LFW photos of different people that SFace scores high. ``a`` and ``b`` are paths
    under LFW's ``lfw-deepfunneled``; the photos' bytes when LFW is here, else None."""

    a: str
    b: str
    score: float
    fmr_words: str  # how often different people score this high, in words
    photo_a: bytes | None = None
    photo_b: bytes | None = None

    @property
    def people(self) -> tuple[str, str]:
        return _person(self.a), _person(self.b)

    def as_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "score": self.score, "fmr": self.fmr_words}


def _person(path: str) -> str:
    return path.split("/", 1)[0].replace("_", " ")


@dataclass(frozen=True)
class TrainingContent:
    """The course: its sections in order, then the look-alike pairs and what the page says
    about their photos (shown, or why not)."""

    sections: tuple[Section, ...]
    lookalikes: tuple[Lookalike, ...]
    lookalike_note: str
    expected_strangers: float  # gallery faces x the organisation's max_fmr (or REFERENCE_FMR)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "sections": [s.as_json() for s in self.sections],
            "lookalikes": [pair.as_json() for pair in self.lookalikes],
            "lookalike_note": self.lookalike_note,
            "expected_strangers": self.expected_strangers,
            "quiz": [q.as_json() for q in QUIZ],
        }


def training_content(settings: Settings, catalog_size: int, policy: OrgPolicy) -> TrainingContent:
    """The course for a gallery of ``catalog_size`` faces under ``policy``, with the
    look-alike photos read from ``settings.lfw_dir`` when LFW is there."""
    pairs, note = _lookalikes(settings.lfw_dir)
    sections = (
        Section(
            "A candidate is a lead",
            (
                "A search compares the face in your photo with every face in the gallery and "
                "shows those that score above a line. Each candidate is a lead for you to "
                "check by other means, never an identification on its own.",
                "Face recognition is less accurate for some groups of people than for "
                "others, and on small, blurred or turned faces. A high score does not make a "
                "candidate the person in your photo.",
            ),
        ),
        _strangers(catalog_size, policy.max_fmr),
        Section("Look-alikes", (note,)),
        Section(
            "The two-person rule",
            (
                "Under the two-person rule a candidate is confirmed only when two different "
                "people have each confirmed it; one person's confirmation leaves it possible.",
                "Your organisation applies it."
                if policy.two_person
                else "Your organisation has turned it off: ask a colleague to look at a "
                "candidate before you confirm it all the same.",
            ),
        ),
        Section(
            "Before acting on a candidate",
            (
                "Check the candidate independently: other evidence, records, who could have "
                "been where. Record your decision on the candidate, with its reason. Never "
                "act on a score alone.",
                "Every search names a case and its purpose, and every search, verification "
                "and decision is recorded in the audit trail.",
            ),
        ),
        Section("Your organisation's policies", _policy_words(policy)),
    )
    rate = REFERENCE_FMR if policy.max_fmr is None else policy.max_fmr
    return TrainingContent(sections, pairs, note, catalog_size * rate)


def _strangers(catalog_size: int, max_fmr: float | None) -> Section:
    """What a false match rate means at this gallery's size: the strangers expected above the
    organisation's line (``REFERENCE_FMR``'s when it sets none), worked out."""
    rate = REFERENCE_FMR if max_fmr is None else max_fmr
    expected = catalog_size * rate
    if max_fmr is None:
        line = (
            "Your organisation sets no false match rate (FMR) below which candidates are "
            "hidden: a search shows its top candidates whatever they score. Take a line of "
            f"{rate:g}: about 1 in {round(1 / rate):,} pairs of different people score above it."
        )
    else:
        line = (
            f"Your organisation shows candidates down to a false match rate (FMR) of {rate:g}: "
            f"about 1 in {round(1 / rate):,} pairs of different people score above that line."
        )
    return Section(
        "False matches at this gallery's size",
        (
            line,
            f"This gallery holds {catalog_size:,} faces. A search for someone who is not in it "
            f"at all is expected to show {describe_expected(expected)} strangers above the "
            f"line: {catalog_size:,} faces x {rate:g} = {expected:,.2f}.",
            "The larger the gallery, the more strangers: at 1,000,000 faces and an FMR of "
            "1e-4, about 100 strangers would score as high as the line.",
        ),
    )


def _policy_words(policy: OrgPolicy) -> tuple[str, ...]:
    days = policy.probe_retention_days
    expiry = policy.account_expiry_days
    return (
        "Candidates are shown whatever they score."
        if policy.max_fmr is None
        else f"Candidates are shown down to a false match rate of {policy.max_fmr:g}.",
        "Two-person rule: " + ("on." if policy.two_person else "off."),
        "Every search names an open case of the case registry of which you are a member."
        if policy.cases_required
        else "Every search names a case number and its purpose.",
        "A supervisor approves each search before it runs."
        if policy.search_approval
        else "Searches need no supervisor's approval before they run.",
        f"Working hours: {policy.working_hours} ({policy.time_zone}); searches outside them "
        "alert the supervisors.",
        f"More than {policy.max_searches_per_day} searches by one user in a day alert the "
        "supervisors.",
        "Probe photos are kept as long as the deployment's setting says."
        if days is None
        else f"Probe photos are kept {days} days.",
        "Accounts do not expire for want of use."
        if expiry is None
        else f"An account unused for {expiry} days stops signing in.",
    )


def _lookalikes(lfw_dir: Path) -> tuple[tuple[Lookalike, ...], str]:
    """The shipped pairs, with their photos when LFW is at ``lfw_dir``, and what the page
    says about them."""
    raw = json.loads(resources.files("facesearch").joinpath("data", LOOKALIKES).read_text())
    table = load_table(raw["model_id"])
    images = Path(lfw_dir) / LFW_IMAGES
    here = images.is_dir()
    pairs = []
    for item in raw["pairs"]:
        a, b, score = lfw_path(item["a"]), lfw_path(item["b"]), float(item["score"])
        words = describe_fmr(table.fmr_at(score), table.words_floor)
        photos = (_read(images / a), _read(images / b)) if here else (None, None)
        pairs.append(Lookalike(a, b, score, words, *photos))
    intro = (
        "Each pair below is two different people whose faces SFace scores high: any of them "
        "could come back as a candidate in a search for the other."
    )
    if not here:
        intro += (
            f" Their photos come from the LFW data set, which is not at {lfw_dir} on this "
            "server (the lfw_dir setting, FACESEARCH_LFW_DIR), so the pairs are listed by "
            "name and score only."
        )
    return tuple(pairs), intro


def lfw_path(text: object) -> str:
    """``text`` if it names an image of LFW's folder (``Person/Person_0001.jpg``), never
    a path out of it; ConfigError otherwise."""
    if not isinstance(text, str) or not _LFW_PATH.fullmatch(text):
        raise ConfigError(f"{LOOKALIKES}: not an LFW image path: {text!r}")
    return text


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
