"""Rewrite the README's settings table (between the settings markers) from the settings object.

    .venv/bin/python scripts/settings_table.py
"""

from __future__ import annotations

from pathlib import Path

from facesearch.settings import Settings

START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def table() -> str:
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    home = str(Path.home())
    for env, default, doc in Settings.describe():
        lines.append(f"| `{env}` | `{default.replace(home, '~')}` | {doc} |")
    return "\n".join(lines)


def main() -> None:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table()}\n{END}{tail}")


if __name__ == "__main__":
    main()
