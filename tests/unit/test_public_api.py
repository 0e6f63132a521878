from __future__ import annotations

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
