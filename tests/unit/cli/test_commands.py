"""The CLI's commands in this process through ``facesearch.cli.main(pipelines=...)``, on the
fake pipeline: search's JSON keeps the keys the README documents, detect and embed stream one
line per face or file, verify --pairs one line per pair (exit 2 on a failed pair or a malformed
line), users and audit read an existing home only."""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakePipeline, person_name, write_photo
from tests.homes import Home, Ran

from facesearch.cli import main

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """cli(home, *args) -> Ran: ``facesearch --home HOME ARGS`` on the fake pipeline."""

    def run(home: Path, *args: str) -> Ran:
        capsys.readouterr()
        code = main(["--home", str(home), *args], pipelines=FakePipeline)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def open_home(fake_homes: Any) -> Home:
    """The fake gallery without user accounts: no case needed."""
    home: Home = fake_homes("cli-commands", users=False)
    return home


def documented_search_keys() -> set[str]:
    """The key names README.md's Search paragraph says ``search --json`` prints."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("- **Search**") :].split("\n- ", 1)[0]
    shape = paragraph[paragraph.index("`--json`") : paragraph.index("}]}]")]
    return set(re.findall(r'"([a-z_]+)"', shape))


def test_search_json_is_the_search_record_with_the_documented_keys(
    open_home: Home, cli: Any, tmp_path: Path
) -> None:
    probe = write_photo(tmp_path, 2, 0)
    r = cli(open_home.home, "search", str(probe), "--top", "3", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    face = out["faces"][0]
    hit = face["hits"][0]
    shown = set(out) | set(face) | set(hit) | {"size", "name"} & set(out["collections"][0])
    assert documented_search_keys() <= shown
    assert isinstance(out["id"], int) and out["probe"] == str(probe)
    assert out["collections"] == [{"name": "default", "size": out["gallery_faces"]}]
    assert hit["rank"] == 1 and hit["subject"] == person_name(2)
    assert Path(hit["image_path"]).is_absolute()  # the CLI shows full paths
    assert len(hit["bbox"]) == 4 and 0 < hit["fmr"] <= 1 and hit["same_file"] is False

    text = cli(open_home.home, "search", str(probe), "--top", "1")
    assert text.code == 0, text.err
    assert f"recorded as audit entry {out['id'] + 1}" in text.out
    assert person_name(2) in text.out and "(default)" in text.out


def test_detect_and_embed_give_one_line_per_face_or_file_in_order(cli: Any, tmp_path: Path) -> None:
    one = write_photo(tmp_path, 1, 0)
    two = write_photo(tmp_path, 3, 0, faces=2)
    missing = tmp_path / "missing.png"
    r = cli(tmp_path / "home", "detect", str(one), str(missing), str(two))
    assert r.code == 2
    rows = [json.loads(line) for line in r.out.splitlines()]
    assert [(row["path"], row["face"]) for row in rows] == [
        (str(one), 0),
        (str(missing), None),
        (str(two), 0),
        (str(two), 1),
    ]
    assert "missing.png" in rows[1]["error"] and "embedding" not in rows[0]
    r = cli(tmp_path / "home", "embed", "--main", str(two))
    assert r.code == 0, r.err
    (row,) = [json.loads(line) for line in r.out.splitlines()]
    assert len(row["embedding"]) == 128
    assert not (tmp_path / "home").exists()  # detect and embed touch no home


def test_users_and_audit_need_an_existing_home(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "typo"
    for args in (("users", "list"), ("audit", "head"), ("audit", "verify")):
        r = cli(nowhere, *args)
        assert r.code == 2 and "no facesearch accounts or audit trail" in r.err, args
    assert not nowhere.exists()

    home = tmp_path / "home"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase here\n"))
    assert cli(home, "users", "add", "ana", "--role", "admin", "--password-stdin").code == 0
    r = cli(home, "users", "token", "ana")
    assert r.code == 0 and r.out.startswith("fs_")
    (row,) = [json.loads(line) for line in cli(home, "users", "list", "--json").out.splitlines()]
    assert (row["name"], row["role"], row["tokens"]) == ("ana", "admin", 1)
    r = cli(home, "audit", "export", "--format", "jsonl", "--action", "token_issue")
    (entry,) = [json.loads(line) for line in r.out.splitlines()]
    assert entry["actor"].startswith("os:") and entry["payload"]["name"] == "ana"
    r = cli(home, "audit", "export", "--format", "csv", "--action", "nope")
    assert r.code == 2 and "unknown action 'nope'" in r.err
    assert cli(home, "audit", "verify").code == 0


def test_users_password_sets_an_ordinary_password_on_the_host(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: the host's CLI (``users add``, ``users password``) sets ordinary passwords; a
    new password revokes the user's tokens. Before, ``users password`` did not exist, so an
    admin who forgot theirs had no way back on the host."""
    from facesearch.app import open_store
    from facesearch.settings import Settings

    home = tmp_path / "home"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase here\n"))
    assert cli(home, "users", "add", "ana", "--role", "admin", "--password-stdin").code == 0
    assert cli(home, "users", "token", "ana").code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another passphrase, chosen anew\n"))
    r = cli(home, "users", "password", "ana", "--password-stdin")
    assert r.code == 0, r.err
    assert "tokens were revoked" in r.out
    (row,) = [json.loads(line) for line in cli(home, "users", "list", "--json").out.splitlines()]
    assert row["tokens"] == 0
    with open_store(Settings.from_env(home=home), existing=True) as store:
        user, _, _ = store.accounts.login("ana", "another passphrase, chosen anew")
        assert user.name == "ana" and not user.password_temporary
    r = cli(home, "audit", "export", "--format", "jsonl", "--action", "password_set")
    (entry,) = [json.loads(line) for line in r.out.splitlines()]
    assert entry["actor"].startswith("os:")
    assert entry["payload"] == {"name": "ana", "tokens_revoked": 1, "one_time_password": False}
    monkeypatch.setattr("sys.stdin", io.StringIO("another passphrase, chosen anew\n"))
    r = cli(home, "users", "password", "nobody", "--password-stdin")
    assert r.code == 2 and "nobody" in r.err and str(home) in r.err


@pytest.mark.parametrize(
    ("command", "required"),
    [
        (("search",), True),
        (("verify",), True),
        (("export",), True),
        (("ingest",), False),
        (("forget",), False),
        (("people", "list"), False),
        (("people", "build"), False),
    ],
)
def test_the_help_says_where_a_case_is_required(command: tuple[str, ...], required: bool) -> None:
    """Once a home has accounts, a search, a verification and a subject's export need
    ``--case`` and ``--purpose``; an ingest, an erasure and people's commands take them but
    run without. Every ``--help`` said "required once accounts exist"."""
    from facesearch.cli import build_parser

    sub = build_parser()
    for name in command:
        sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[
            name
        ]
    helps = {a.dest: a.help or "" for a in sub._actions}
    for dest in ("case", "purpose"):
        assert ("required once accounts exist" in helps[dest]) is required, (command, dest)


def test_verify_pairs_prints_one_line_per_pair_and_exits_2_on_a_failed_pair(
    cli: Any, open_home: Home, tmp_path: Path
) -> None:
    a, a2, b = (write_photo(tmp_path, p, s) for p, s in ((0, 5), (0, 6), (1, 5)))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"# same, different\n{a}\t{a2}\n\n{a}\t{b}\n")
    r = cli(open_home.home, "verify", "--pairs", str(pairs), "--json")
    assert r.code == 0, r.err
    same, apart = (json.loads(line) for line in r.out.splitlines())
    assert (same["a"], same["b"], apart["b"]) == (str(a), str(a2), str(b))
    assert same["same"] is True and apart["same"] is False
    assert len(same["models"]) == 2 and set(same["scores"]) == set(same["models"])
    r = cli(open_home.home, "verify", "--pairs", str(pairs))  # readable: one line per pair
    # the machine column says a lead or below, never "same"/"different": not identifications
    assert r.code == 0 and [line.split("\t")[2] for line in r.out.splitlines()] == [
        "lead",
        "below",
    ]
    assert "2 pairs: 1 at or above the threshold (lead), 1 below, 0 failed" in r.err

    pairs.write_text(f"{a}\t{tmp_path / 'missing.png'}\n{a}\t{a2}\n")
    r = cli(open_home.home, "verify", "--pairs", str(pairs), "--json")
    assert r.code == 2
    missing, same = (json.loads(line) for line in r.out.splitlines())
    assert "missing.png" in missing["error"] and same["same"] is True


def test_verify_pairs_refuses_a_malformed_line_before_any_output(
    cli: Any, open_home: Home, tmp_path: Path
) -> None:
    a = write_photo(tmp_path, 0, 5)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{a}\t{a}\n{a}\n")
    r = cli(open_home.home, "verify", "--pairs", str(pairs), "--json")
    assert r.code == 2 and r.out == ""
    assert "pairs.txt, line 2: expected PATH_A<TAB>PATH_B" in r.err
    r = cli(open_home.home, "verify", str(a), "--pairs", str(pairs))
    assert r.code == 2 and "not both" in r.err
    r = cli(open_home.home, "verify", str(a))
    assert r.code == 2 and "give two photos" in r.err


def test_verify_pairs_json_says_what_each_decision_was_made_at_and_from_which_line(
    cli: Any, open_home: Home, tmp_path: Path
) -> None:
    """--json lines said "same" but not at which threshold, nor which line of the file a failed
    pair came from, and --json printed no summary (the audit entry's number) at all."""
    a, a2 = (write_photo(tmp_path, 0, s) for s in (5, 6))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"# comment\n{a}\t{a2}\n\n{a}\t{tmp_path / 'missing.png'}\n")
    r = cli(open_home.home, "verify", "--pairs", str(pairs), "--json")
    assert r.code == 2
    ok, failed = (json.loads(line) for line in r.out.splitlines())
    assert (ok["line"], failed["line"]) == (2, 4)
    assert 0 < ok["threshold"] < 1 and failed["threshold"] is None
    assert "2 pairs: 1 at or above the threshold (lead), 0 below, 1 failed" in r.err
    assert "audit entry" in r.err
    assert "False match rates: " in r.err  # what the FMR column rests on
    r = cli(open_home.home, "verify", "--pairs", str(pairs))
    assert r.out.splitlines()[1].startswith(f"{a}\t{tmp_path / 'missing.png'}\tERROR (line 4): ")


def test_verify_says_when_both_sides_are_one_file(
    cli: Any, open_home: Home, tmp_path: Path
) -> None:
    a = write_photo(tmp_path, 0, 5)
    r = cli(open_home.home, "verify", str(a), str(a))
    assert r.code == 0 and "same file on both sides" in r.out
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{a}\t{a}\n")
    r = cli(open_home.home, "verify", "--pairs", str(pairs))
    assert r.code == 0 and r.out.rstrip().endswith("one photo, not two photos of a person")


def test_verify_text_names_each_model_and_its_own_score(
    cli: Any, open_home: Home, tmp_path: Path
) -> None:
    """The text printed only the fused similarity; which models scored the pair, and how
    each scored it, was only in --json."""
    a, b = write_photo(tmp_path, 0, 5), write_photo(tmp_path, 0, 6)
    shown = json.loads(cli(open_home.home, "verify", str(a), str(b), "--json").out)
    r = cli(open_home.home, "verify", str(a), str(b))
    assert len(shown["scores"]) == 2
    line = next(x for x in r.out.splitlines() if x.strip().startswith("fused from"))
    printed = dict(part.split() for part in line.split("fused from", 1)[1].split(","))
    assert set(printed) == {m.split(":")[0] for m in shown["scores"]}
    for model, score in shown["scores"].items():
        assert float(printed[model.split(":")[0]]) == pytest.approx(score, abs=1e-4)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("search", "P1", "--top", "0"), "top is a whole number of candidates from 1 to 1000"),
        (("search", "P1", "--threshold", "2"), "a threshold is a similarity, from -1 to 1"),
        (("verify", "P1", "P2", "--threshold", "2"), "a threshold is a similarity, from -1 to 1"),
        (("verify", "P1", "P2", "--threshold", "-5"), "a threshold is a similarity, from -1 to 1"),
    ],
)
def test_a_meaningless_top_or_threshold_is_an_error_not_a_default(
    open_home: Home, cli: Any, tmp_path: Path, args: tuple[str, ...], match: str
) -> None:
    """--top 0 searched the default 10; verify --threshold -5 said SAME PERSON for two
    different people, --threshold 2 priced it at '1 in 2,800,000'."""
    photos = {"P1": str(write_photo(tmp_path, 1, 0)), "P2": str(write_photo(tmp_path, 2, 0))}
    r = cli(open_home.home, *(photos.get(a, a) for a in args))
    assert r.code == 2 and r.out == ""
    assert f"facesearch: error: {match}" in r.err


def test_search_checks_the_report_path_before_it_searches(
    open_home: Home, cli: Any, tmp_path: Path
) -> None:
    """--report DIR ran and logged the search, then failed with an IsADirectoryError
    traceback; --report /nonexistent/dir/out.html made /nonexistent."""
    probe = str(write_photo(tmp_path, 2, 0))
    first = json.loads(cli(open_home.home, "search", probe, "--json").out)["id"]
    missing = tmp_path / "nonexistent" / "dir"
    for report, why in ((tmp_path, "is a folder"), (missing / "out.html", "does not exist")):
        r = cli(open_home.home, "search", probe, "--report", str(report))
        assert r.code == 2 and r.out == "" and why in r.err and "Traceback" not in r.err
    assert not (tmp_path / "nonexistent").exists()
    after = json.loads(cli(open_home.home, "search", probe, "--json").out)["id"]
    assert after == first + 1  # neither refused search ran or was logged


def test_ingest_exits_2_when_nothing_could_be_read(cli: Any, tmp_path: Path) -> None:
    """ingest of a missing folder, a missing file or a folder of non-images exited 0."""
    home = tmp_path / "home"
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("no image")
    (tmp_path / "texts" / "b.jpg").write_text("no image either")
    for path in (tmp_path / "nonexist_dir", tmp_path / "nonexist.jpg", tmp_path / "texts"):
        r = cli(home, "ingest", str(path))
        assert r.code == 2, (path, r.err)
        assert "facesearch: error: nothing ingested from the paths given" in r.err
    assert cli(home, "ingest", str(tmp_path / "nonexist_dir"), "--json").code == 2
    photo = write_photo(tmp_path / "photos", 1, 0)
    partly = cli(home, "ingest", str(photo), str(tmp_path / "nonexist.jpg"))
    assert partly.code == 0 and "failed: " in partly.err and "nonexist.jpg" in partly.err
    again = cli(home, "ingest", str(photo))  # a duplicate: read, nothing new to add
    assert again.code == 0, again.err


def test_verify_says_what_the_web_says_a_lead_never_an_identification(
    cli: Any, open_home: Home, tmp_path: Path
) -> None:
    """``verify a b`` printed "SAME PERSON (likely)" / "DIFFERENT PEOPLE (likely)" where the
    web says "possibly the same person (a lead to check)" and that a score below the threshold
    does not prove two different people."""
    from facesearch.app.verify import VERDICT_BELOW, VERDICT_SAME

    a, a2, b = (write_photo(tmp_path, p, s) for p, s in ((0, 5), (0, 6), (1, 5)))
    r = cli(open_home.home, "verify", str(a), str(a2))
    assert r.code == 0, r.err
    assert r.out.lower().startswith(VERDICT_SAME) and "possibly the same person" in r.out
    r = cli(open_home.home, "verify", str(a), str(b))
    assert r.code == 1, r.err
    assert r.out.lower().startswith(VERDICT_BELOW)
    assert "does not prove two different people" in r.out
    assert "SAME PERSON" not in r.out and "DIFFERENT PEOPLE" not in r.out


def test_ingest_refuses_a_new_collection_name_its_addresses_cannot_hold(
    cli: Any, open_home: Home, tmp_path: Path
) -> None:
    """``ingest --collection a/b`` made a collection that /api/v1/collections/a%2Fb could not
    reach; it is refused before anything is claimed, ingested or logged."""
    photos = tmp_path / "photos"
    write_photo(photos, 1, 0)
    for name in ("a/b", "../../etc", "<b>x</b>"):
        r = cli(open_home.home, "ingest", str(photos), "--collection", name)
        assert r.code == 2 and "Traceback" not in r.err, r.err
        assert "a new collection's name is 1-64 characters" in r.err and repr(name) in r.err
    r = cli(open_home.home, "audit", "export", "--format", "jsonl", "--action", "collection_claim")
    claimed = [json.loads(line)["payload"]["collection"] for line in r.out.splitlines()]
    assert claimed == ["default"]  # the home's own
    assert cli(open_home.home, "ingest", str(photos), "--collection", "cctv-2026").code == 0
