"""What verify and verify --pairs decide at: a threshold or a maximum FMR that cannot mean
anything is refused with a clear message before anything is analysed or logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from facesearch.accountability import AccountabilityStore
from facesearch.app import VerifyRequest, verify
from facesearch.app.verify_pairs import PairsRequest, verify_pairs
from facesearch.engine import Engine
from facesearch.errors import InputError

BAD = (
    ({"max_fmr": 0.0}, "maximum false match rate"),  # was taken as 'not given': FMR 1e-3
    ({"max_fmr": 2.0}, "maximum false match rate"),  # threshold -1: every pair 'same'
    ({"max_fmr": float("nan")}, "maximum false match rate"),
    ({"threshold": float("nan")}, "threshold"),  # 'audit payload is not plain JSON'
    ({"threshold": float("inf")}, "threshold"),
    ({"threshold": 0.3, "max_fmr": 1e-3}, "not both"),
)


@pytest.mark.parametrize(("options", "message"), BAD)
def test_a_meaningless_threshold_or_max_fmr_is_refused_before_anything_is_logged(
    engine: Engine,
    store: AccountabilityStore,
    probe_photo: Any,
    tmp_path: Path,
    options: dict[str, float],
    message: str,
) -> None:
    inv = store.accounts.get_user("inv1")
    a, b = probe_photo(0, 5), probe_photo(1, 5)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{a}\t{b}\n")
    before = store.audit.head().seq
    use = {"case": "K-9", "purpose": "p"}
    with pytest.raises(InputError, match=message):
        verify(engine, store, inv, VerifyRequest(a, b, **use, **options))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        verify_pairs(engine, store, inv, PairsRequest(pairs, **use, **options))  # type: ignore[arg-type]
    assert store.audit.head().seq == before


def test_one_photo_compared_with_itself_is_said_to_be_the_same_file(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, tmp_path: Path
) -> None:
    """A photo against a copy of itself read 'same person, about 1 in 2,800,000 different
    people score this high' with nothing saying that it is one photo, not two."""
    inv = store.accounts.get_user("inv1")
    a, a2 = probe_photo(0, 5), probe_photo(0, 6)
    copy = tmp_path / "copy.png"
    copy.write_bytes(a.read_bytes())
    use = {"case": "K-9", "purpose": "p"}
    assert verify(engine, store, inv, VerifyRequest(a, copy, **use)).as_json()["same_file"]
    assert not verify(engine, store, inv, VerifyRequest(a, a2, **use)).as_json()["same_file"]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{a}\t{copy}\n{a}\t{a2}\n{a}\t{tmp_path / 'missing.png'}\n")
    lines = list(verify_pairs(engine, store, inv, PairsRequest(pairs, **use)).lines())
    assert [x["same_file"] for x in lines] == [True, False, False]
