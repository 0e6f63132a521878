"""``facesearch._lazy``: a package's names imported from their modules on first use."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

LAZY_PACKAGES = ("facesearch", "facesearch.app", "facesearch.accountability")


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package ``lazypkg`` exporting ``greet`` from its submodule of the same name and
    ``Shout`` from ``loud``, which records that it was imported."""
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        textwrap.dedent(
            """
            from facesearch._lazy import lazy_exports as _lazy_exports
            __all__ = ["Shout", "greet"]
            __getattr__, __dir__ = _lazy_exports(
                __name__, {"lazypkg.greet": ("greet",), "lazypkg.loud": ("Shout",)}
            )
            """
        )
    )
    (root / "greet.py").write_text("def greet() -> str:\n    return 'hello'\n")
    (root / "loud.py").write_text("class Shout:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazypkg"
    for name in [m for m in list(sys.modules) if m == "lazypkg" or m.startswith("lazypkg.")]:
        del sys.modules[name]


def test_a_name_is_imported_from_its_module_on_first_use(package: str) -> None:
    pkg = importlib.import_module(package)
    assert "lazypkg.loud" not in sys.modules
    assert pkg.Shout is importlib.import_module("lazypkg.loud").Shout
    assert "Shout" in vars(pkg)  # kept: the next use does not ask again
    assert sorted(n for n in dir(pkg) if not n.startswith("_")) == ["Shout", "greet", "loud"]
    with pytest.raises(AttributeError, match="no attribute 'Shuot'"):
        _ = pkg.Shuot


def test_a_submodule_named_like_its_function_leaves_the_function_bound(package: str) -> None:
    """Importing ``lazypkg.greet`` binds the module as the package's ``greet``; the function
    is bound instead (as ``facesearch.app.search`` leaves ``app.search`` the function)."""
    greet_module = importlib.import_module("lazypkg.greet")
    pkg = sys.modules[package]
    assert pkg.greet is greet_module.greet
    from lazypkg import greet  # type: ignore[import-not-found]

    assert greet() == "hello"


def _checked_imports(package: str) -> dict[str, str]:
    """What type checkers see: each name imported under ``if TYPE_CHECKING`` -> its module."""
    tree = ast.parse(inspect.getsource(importlib.import_module(package)))
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n))
    return {
        alias.name: node.module or ""
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_type_checkers_see_the_names_the_package_exports(package: str) -> None:
    pkg = importlib.import_module(package)
    lazy: dict[str, str] = vars(pkg)["__lazy_exports__"]
    assert _checked_imports(package) == lazy
    assert set(pkg.__all__) - {"__version__"} == set(lazy)
    for name, module in lazy.items():
        assert getattr(pkg, name) is getattr(importlib.import_module(module), name), name
