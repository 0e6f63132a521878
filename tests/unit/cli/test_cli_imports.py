"""A fresh CLI process imports only what its command needs (the start-up of ``embed``).

``facesearch.cli`` registers every command from a table; a command group's module (and what
it pulls in: the server, evaluation, reports, runtimes) is imported only when that command
runs or when the full help is asked for.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import facesearch.cli as cli
from facesearch.cli import build_parser

# Never needed to import the CLI: the server stack, plotting, the inference runtimes (loaded
# when a model is), and the modules of other command groups than ``embed``'s.
HEAVY = (
    "fastapi",
    "uvicorn",
    "matplotlib",
    "onnxruntime",
    "openvino",
    "facesearch.evaluation",
    "facesearch.reports",
    "facesearch.models.int8.build",
    "facesearch.sqlstore.pg",
)

# Not needed by ``embed``, which reads no gallery and writes no audit entry: the gallery (FAISS,
# the catalog, the engine over them) and the accountability store with its password checks.
GALLERY_AND_STORE = (
    "faiss",
    "argon2",
    "facesearch.engine",
    "facesearch.gallery.catalog",
    "facesearch.accountability.store",
    "facesearch.accountability.passwords",
)

PARSE_EMBED = (
    "from facesearch.cli import parser_for\n"
    "parser_for(['embed', 'a.jpg']).parse_args(['embed', 'a.jpg'])"
)


def imported_after(code: str, modules: tuple[str, ...] = HEAVY) -> set[str]:
    """The ``modules`` loaded in a fresh interpreter once ``code`` has run."""
    probe = f"import sys\n{code}\nprint('\\n'.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


def test_importing_the_cli_imports_no_heavy_module() -> None:
    assert imported_after("import facesearch.cli") == set()


def test_parsing_embed_imports_only_its_own_group() -> None:
    assert imported_after(PARSE_EMBED) == set()


def test_embed_imports_neither_the_gallery_nor_the_accountability_store() -> None:
    """The packages ``facesearch``, ``app`` and ``accountability`` load their names on first
    use, so the CLI's ``Actor`` or ``open_pipeline`` does not pull in every module beside it."""
    assert imported_after(PARSE_EMBED, GALLERY_AND_STORE) == set()


def test_the_command_table_names_every_group_adding_to_each_command() -> None:
    """COMMANDS says which group modules add to each top-level command (a group may add
    sub-commands to another's command, as ``quality_eval`` does to ``eval``)."""
    registered: dict[str, tuple[str, ...]] = {}
    sub = argparse.ArgumentParser().add_subparsers()
    for name, group in zip(cli.GROUPS, cli.load_groups(cli.GROUPS), strict=True):
        before = {command: p.format_help() for command, p in sub.choices.items()}
        group.add_parsers(sub)
        for command, p in sub.choices.items():
            if before.get(command) != p.format_help():
                registered[command] = (*registered.get(command, ()), name)
    assert registered == cli.COMMANDS


@pytest.mark.parametrize(
    ("argv", "groups"),
    [
        (["embed", "a.jpg"], ("analyse",)),
        (["--home", "h", "-v", "embed", "a.jpg"], ("analyse",)),
        (["--home=h", "search", "a.jpg"], ("gallery",)),
        (["eval", "quality"], ("evaluate", "quality_eval")),
        ([], cli.GROUPS),
        (["--help"], cli.GROUPS),
        (["--hom", "h", "embed"], cli.GROUPS),  # an abbreviated option: parse with everything
        (["no-such-command"], cli.GROUPS),
    ],
)
def test_the_groups_loaded_for_a_command_line(argv: list[str], groups: tuple[str, ...]) -> None:
    assert cli.groups_for(argv) == groups


def test_a_command_parsed_alone_parses_as_with_every_group() -> None:
    argv = ["--home", "h", "embed", "--main", "a.jpg", "b.jpg"]
    alone = vars(cli.parser_for(argv).parse_args(argv))
    full = vars(build_parser().parse_args(argv))
    assert alone == full


def test_the_full_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parser_for(["--help"]).parse_args(["--help"])
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert command in out
