"""The helpers types.py gives every layer: fields_dict and Closing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from facesearch.types import Closing, fields_dict


@dataclass(frozen=True)
class _Record:
    name: str
    sizes: tuple[int, ...]
    extra: dict[str, int] | None = None


def test_fields_dict_is_the_fields_in_order_with_tuples_as_lists():
    got = fields_dict(_Record("a", (1, 2), {"k": 3}))
    assert got == {"name": "a", "sizes": [1, 2], "extra": {"k": 3}}
    assert list(got) == ["name", "sizes", "extra"]


class _Handle(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_a_with_block_closes_the_handle_even_on_error():
    with _Handle() as handle:
        assert handle.closed == 0
    assert handle.closed == 1
    other = _Handle()
    with pytest.raises(ValueError), other:
        raise ValueError("boom")
    assert other.closed == 1
