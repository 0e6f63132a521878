"""``facesearch people ...`` in this process on the fake pipeline: the JSON of ``people list``
has the issue's shape with every face in exactly one person, reviews print and are logged,
an ingest after a build attaches, errors are one line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import GALLERY_SHOTS, PEOPLE, FakePipeline, write_photo
from tests.homes import Home, Ran

from facesearch.accountability import AccountabilityStore
from facesearch.cli import main


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """cli(home, *args) -> Ran: ``facesearch --home HOME ARGS`` on the fake pipeline."""

    def run(home: Path, *args: str) -> Ran:
        capsys.readouterr()
        code = main(["--home", str(home), *args], pipelines=FakePipeline)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture()
def labelled(fake_homes: Any) -> Path:
    """The fake gallery (labelled person_N), without user accounts: no case needed."""
    home: Home = fake_homes("cli-people", users=False)
    return home.home


def people_json(cli: Any, home: Path, *args: str) -> list[dict[str, Any]]:
    r = cli(home, "people", "list", "--json", *args)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert set(data) == {"people"}
    return list(data["people"])


def documented_keys() -> set[str]:
    """The key names README.md's People section says ``people list --json`` prints."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### People (clustering)") :]
    shape = section[section.index("`people list --json` prints") : section.index("]}]}")]
    return set(re.findall(r'"([a-z_]+)"', shape))


def check_shape(people: list[dict[str, Any]], faces: int) -> None:
    """The issue's shape (the README's), every face in exactly one person."""
    seen, documented = [], documented_keys()
    for person in people:
        assert set(person) == {"person", "name", "faces"} and person["faces"]
        for face in person["faces"]:
            assert set(face) == {"face_id", "image_path", "bbox"}
            assert {"people"} | set(person) | set(face) == documented
            assert Path(face["image_path"]).is_file() and len(face["bbox"]) == 4
            seen.append(face["face_id"])
    assert sorted(seen) == list(range(1, faces + 1))


def test_people_list_builds_first_and_prints_every_face_once(labelled: Path, cli: Any) -> None:
    people = people_json(cli, labelled)
    check_shape(people, PEOPLE * len(GALLERY_SHOTS))
    assert len(people) == PEOPLE
    assert {len(p["faces"]) for p in people} == {len(GALLERY_SHOTS)}
    for person in people:  # one folder (person_N) per person
        assert len({Path(f["image_path"]).parent for f in person["faces"]}) == 1
    again = cli(labelled, "people", "list")
    assert again.code == 0 and "building" not in again.err
    assert len(again.out.splitlines()) == PEOPLE + 1


def test_build_json_and_the_review_commands(labelled: Path, cli: Any) -> None:
    r = cli(labelled, "people", "build", "--json")
    assert r.code == 0, r.err
    built = json.loads(r.out)
    assert built["faces"] == PEOPLE * len(GALLERY_SHOTS) and built["persons"] == PEOPLE
    a, b, c = (p["person"] for p in people_json(cli, labelled)[:3])
    r = cli(labelled, "people", "name", str(a), "Ann Example", "--json")
    assert r.code == 0, r.err and json.loads(r.out)["person"]["name"] == "Ann Example"
    r = cli(labelled, "people", "merge", str(a), str(b))
    assert r.code == 0 and "person merge" in r.out, r.err
    shown = cli(labelled, "people", "show", str(c), "--json")
    faces = [f["face_id"] for f in json.loads(shown.out)["faces"]]
    r = cli(labelled, "people", "split", str(c), str(faces[0]), "--json")
    new = json.loads(r.out)["person"]
    assert [f["face_id"] for f in new["faces"]] == [faces[0]]
    r = cli(labelled, "people", "not", str(c), str(faces[1]))
    assert r.code == 0, r.err
    people = people_json(cli, labelled)
    check_shape(people, PEOPLE * len(GALLERY_SHOTS))
    by_id = {p["person"]: p for p in people}
    assert by_id[a]["name"] == "Ann Example" and len(by_id[a]["faces"]) == 2 * len(GALLERY_SHOTS)
    assert b not in by_id and len(by_id[c]["faces"]) == len(GALLERY_SHOTS) - 2
    with AccountabilityStore.open(labelled) as store:
        actions = [e.action for e in store.audit.entries(since=None, limit=None)]
    assert actions[-8:] == ["people_build", "read", "person_name", "person_merge", "read",
                            "person_split", "person_not", "read"]  # fmt: skip


def test_an_ingest_after_a_build_attaches_new_faces(
    fake_photos: Path, tmp_path: Path, cli: Any
) -> None:
    home = tmp_path / "home"
    r = cli(home, "ingest", str(fake_photos), "--json")  # no labels
    assert r.code == 0, r.err and json.loads(r.out)["faces_added"] == PEOPLE * len(GALLERY_SHOTS)
    assert cli(home, "people", "build").code == 0
    photo = write_photo(tmp_path / "new", 1, 9)
    r = cli(home, "ingest", str(photo), "--json")
    assert r.code == 0, r.err
    people = people_json(cli, home)
    check_shape(people, PEOPLE * len(GALLERY_SHOTS) + 1)
    assert len(people) == PEOPLE
    (grown,) = [p for p in people if len(p["faces"]) == len(GALLERY_SHOTS) + 1]
    assert str(photo) in {f["image_path"] for f in grown["faces"]}
    assert {Path(f["image_path"]).parent.name for f in grown["faces"]} == {"person_1"}


def test_errors_are_one_line(labelled: Path, cli: Any) -> None:
    r = cli(labelled, "people", "show", "12345")
    assert r.code == 2 and r.err.startswith("facesearch: error: no person") and not r.out
    r = cli(labelled, "people", "list", "--collection", "nope")
    assert r.code == 2 and "no collection named 'nope'" in r.err
