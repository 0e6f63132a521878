"""Nothing above the application layer touches a store (docs/STYLE.md, issue 8).

Every module under ``facesearch/cli/`` and ``facesearch/server/`` is parsed with ``ast`` and
each of its imports (``TYPE_CHECKING`` ones too) is resolved to the module that defines the
imported name (``from facesearch.accountability import AccountabilityStore`` is an import of
``facesearch.accountability.store``). It is an offence when that module is a store's or a
model's:

- a store is a class holding a database or vector-index handle: the catalog, the vector
  indexes and the per-collection set, the ingestor, and in accountability the store, its
  database, accounts (with their logins, sessions, tokens and user rows), the audit trail
  with its chain, checks and keys, the decisions and the kept probes;
- ``facesearch.pipeline`` and ``facesearch.models`` (the face models).

Plain records and enums defined in those modules may be imported for their types; they are
listed by name in RECORDS, and a test checks that each is an Enum or a dataclass.

The adapters hold handles that ``app.handles`` opens (the store, a catalog connection, the
pipeline) and pass them to ``app`` operations; a second check fails when code above the
application layer reads a store's parts (``store.audit``, ``engine.catalog`` ...), so a handle
is only ever passed on, never used there.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import facesearch

PACKAGE = Path(facesearch.__file__).resolve().parent
ABOVE_APP = ("cli", "server")

STORES = (
    "facesearch.pipeline",
    "facesearch.models",
    "facesearch.gallery.catalog",
    "facesearch.gallery.collections",
    "facesearch.gallery.vectors",
    "facesearch.gallery.ingest",
    "facesearch.gallery.sqlite_wal",
    *(
        f"facesearch.accountability.{name}"
        for name in (
            "store",
            "db",
            "accounts",
            "logins",
            "sessions",
            "tokens",
            "users",
            "audit",
            "chain",
            "chain_check",
            "seal_check",
            "keying",
            "decisions",
            "probes",
        )
    ),
)
# modules under a store's name that hold plain records only
RECORD_MODULES = ("facesearch.gallery.catalog.records",)
# plain records and enums defined in store modules, fine to import for their types
RECORDS = frozenset(
    {
        "AuditHead",
        "CandidateState",
        "CandidateStatus",
        "DecisionRecord",
        "Decodable",
        "FailedSource",
        "IngestSummary",
        "LoginLock",
        "PendingCandidate",
        "TokenInfo",
        "User",
        "Verdict",
    }
)


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def is_store(module: str) -> bool:
    return within(module, STORES) and not within(module, RECORD_MODULES)


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def holds_stores(module: str) -> bool:
    """Whether names imported from ``module`` may be stores: a store module, or a package
    above one that may re-export it (``facesearch.accountability``); not ``facesearch.app``,
    whose re-exports are the application layer's."""
    return is_store(module) or any(p.startswith(module + ".") for p in STORES)


def defined_in(module: str, name: str) -> str:
    """The module that defines ``module.name`` (a submodule is its own)."""
    if is_module(f"{module}.{name}"):
        return f"{module}.{name}"
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return module
    home = getattr(value, "__module__", None)
    return home if isinstance(home, str) and home.startswith("facesearch") else module


def imports(tree: ast.AST, package: str) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, imported name or None) of every import in ``tree``; relative imports
    resolved against ``package``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                yield node.lineno, base, alias.name


def offences(source: str, package: str, where: str) -> list[str]:
    """The store imports of one module's ``source``, as "where:line module.name"."""
    found = []
    for line, module, name in imports(ast.parse(source), package):
        if not module.startswith("facesearch"):
            continue
        if name is None:
            target, shown = module, module
        else:
            if name in RECORDS or not holds_stores(module):
                continue
            target, shown = defined_in(module, name), f"{module}.{name}"
        if is_store(target):
            found.append(f"{where}:{line} {shown}" + (f" ({target})" if target != module else ""))
    return found


def modules_above_the_app() -> Iterator[tuple[Path, str]]:
    for top in ABOVE_APP:
        for path in sorted((PACKAGE / top).rglob("*.py")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            yield path, ".".join(parts[:-1])  # the package its relative imports start from


def test_the_check_finds_store_imports_and_lets_records_through() -> None:
    source = "\n".join(
        [
            "from facesearch.accountability import Role, Permission, AccountabilityStore",
            "from facesearch.gallery.catalog import Catalog",
            "from facesearch.gallery.catalog.records import FaceRecord",
            "import facesearch.pipeline",
            "from ..models import registry",
            "from facesearch.accountability.decisions import Verdict, Decisions",
            "from facesearch import settings, types",
            "from facesearch.app.checks import check_name",
            "from facesearch.pipeline import Decodable",
        ]
    )
    found = offences(source, "facesearch.server", "x.py")
    assert [f.split(" ")[1] for f in found] == [
        "facesearch.accountability.AccountabilityStore",
        "facesearch.gallery.catalog.Catalog",
        "facesearch.pipeline",
        "facesearch.models.registry",
        "facesearch.accountability.decisions.Decisions",
    ], found


def test_the_allowed_records_are_plain_records() -> None:
    """RECORDS may hold only data: an Enum or a dataclass, never a class with a handle."""
    defined = 0
    for module in STORES:
        if not is_module(module):
            continue
        for name in sorted(RECORDS):
            value = getattr(importlib.import_module(module), name, None)
            if isinstance(value, type) and value.__module__ == module:
                defined += 1
                assert issubclass(value, enum.Enum) or dataclasses.is_dataclass(value), name
    assert defined >= len(RECORDS) // 2  # the list names things that exist


def test_nothing_above_the_application_layer_imports_a_store() -> None:
    found = []
    for path, package in modules_above_the_app():
        where = str(path.relative_to(PACKAGE))
        found += offences(path.read_text(encoding="utf-8"), package, where)
    assert not found, "store imports above the application layer:\n" + "\n".join(found)


# What a store holds, reached as an attribute: the accountability store's parts and the
# engine's gallery and models. Above the application layer a handle is only passed on.
STORE_PARTS = frozenset(
    {"accounts", "audit", "probes", "decisions", "catalog", "indexes", "pipeline", "open_home"}
)


def uses(source: str, where: str) -> list[str]:
    """Attribute reads of a store's parts in ``source`` (``store.audit``, ``engine.catalog``)."""
    return [
        f"{where}:{node.lineno} .{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in STORE_PARTS
    ]


def test_the_use_check_finds_a_stores_parts() -> None:
    source = "ctx.store.audit.get(1)\nengine.catalog.close()\nx = app.search(engine, store)\n"
    assert [u.split(" ")[1] for u in uses(source, "x.py")] == [".audit", ".catalog"]


def test_nothing_above_the_application_layer_uses_a_store() -> None:
    """Handles (``app.handles``) are held and passed to ``app`` operations, never used."""
    found = []
    for path, _ in modules_above_the_app():
        found += uses(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert not found, "store parts used above the application layer:\n" + "\n".join(found)
