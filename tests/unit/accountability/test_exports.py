"""The accountability package exports what it lists."""

from __future__ import annotations

import facesearch.accountability as acc


def test_the_package_exports_what_it_lists():
    assert len(acc.__all__) == len(set(acc.__all__))
    for name in acc.__all__:
        assert hasattr(acc, name), name
    public = {n for n in dir(acc) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(acc, n)).__name__ == "module"}
    assert public - modules - set(acc.__all__) == set(), "exported but not in __all__"
