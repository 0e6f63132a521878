"""A package's exported names, each imported from its module on first use (PEP 562).

    if TYPE_CHECKING:
        from facesearch.engine import Engine      # what type checkers see
    else:
        __getattr__, __dir__ = lazy_exports(__name__, {"facesearch.engine": ("Engine",)})

A package that imports all its modules up front makes importing any one of them import them
all: the CLI's ``embed`` loaded FAISS, the catalog and argon2 that way. With these, ``from
facesearch import Engine`` imports ``facesearch.engine`` when it runs, and keeps the name.
Where a submodule has the name of a function the package exports (``facesearch.app.search``),
the function stays bound after that submodule is imported, as when the package imported it.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]

_WHERE = "__lazy_exports__"  # the package's attribute: each exported name -> its module


class _Package(types.ModuleType):
    """A package one of whose submodules has the name of a function it exports."""

    def __setattr__(self, name: str, value: object) -> None:
        # The import system binds a submodule as its package's attribute once it is loaded.
        where: dict[str, str] = self.__dict__.get(_WHERE, {})
        if isinstance(value, types.ModuleType) and where.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


_Package.__name__ = _Package.__qualname__ = "module"  # still a module to ``type(x).__name__``


def lazy_exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, which exports each module's names."""
    where = {name: module for module, names in modules.items() for name in names}
    namespace = sys.modules[package].__dict__
    namespace[_WHERE] = where
    if any(module == f"{package}.{name}" for name, module in where.items()):
        sys.modules[package].__class__ = _Package

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
