"""The public API: ``facesearch.__all__`` and the types ``Engine`` returns."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import facesearch


def test_all_names_exist_and_are_exported() -> None:
    for name in facesearch.__all__:
        assert hasattr(facesearch, name), name
    public = {n for n in dir(facesearch) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(facesearch, n)).__name__ == "module"}
    assert public - modules - set(facesearch.__all__) == set(), "exported but not in __all__"
    assert sorted(facesearch.__all__) == facesearch.__all__


def test_error_tree_roots() -> None:
    for name in ("ConfigError", "ImageError", "NoFaceError", "NotFoundError", "ModelError"):
        assert issubclass(getattr(facesearch, name), facesearch.FaceSearchError)


def _returned_classes(hint: object, seen: set[type]) -> None:
    """The facesearch classes in a return annotation, and in the fields of those that are
    dataclasses (a SearchResult holds ProbeFaces, which hold Hits), into ``seen``."""
    if isinstance(hint, type):
        if hint.__module__.startswith("facesearch") and hint not in seen:
            seen.add(hint)
            if dataclasses.is_dataclass(hint):
                for value in typing.get_type_hints(hint).values():
                    _returned_classes(value, seen)
        return
    for arg in typing.get_args(hint):
        _returned_classes(arg, seen)


def test_every_type_the_engine_returns_is_exported() -> None:
    seen: set[type] = set()
    for name, member in inspect.getmembers(facesearch.Engine, inspect.isfunction):
        if not name.startswith("_"):
            _returned_classes(typing.get_type_hints(member).get("return"), seen)
    assert {"SearchResult", "VerifyResult", "Hit"} <= {c.__name__ for c in seen}  # the walk works
    missing = sorted(c.__name__ for c in seen if getattr(facesearch, c.__name__, None) is not c)
    assert missing == [], "returned by Engine but not exported from facesearch"
    assert {c.__name__ for c in seen} <= set(facesearch.__all__)
