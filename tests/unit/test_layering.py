"""The layers of shared/DESIGN.md, checked on the source: handlers/ (Telegram) -> bot/ (rules) -> storage/ (SQL).

Every import counts, at the top of a module, inside a function, or under TYPE_CHECKING: a lazy import is still
a dependency. Where today's code breaks a rule, the offence is listed below; those lists shrink to empty with
issue 11. A test fails both on a new offence and on a listed one that is gone (then delete it from the list).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage", "locales")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module, or package.name when that name is a module of the project
    where: str  # "module", "function" (inside a def) or "typing" (under TYPE_CHECKING)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imports(source: str, path: Path) -> Iterator[Import]:
    def visit(node: ast.AST, where: str) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = "typing"
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and where == "module":
                inner = "function"
            if isinstance(child, ast.Import):
                yield from (Import(source, alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module is not None:
                yield Import(source, child.module, inner)
                for alias in child.names:
                    # `from handlers import admin` imports the module handlers.admin.
                    if f"{child.module}.{alias.name}" in MODULES:
                        yield Import(source, f"{child.module}.{alias.name}", inner)
            yield from visit(child, inner)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")), "module")


IMPORTS = [found for name, path in MODULES.items() for found in _imports(name, path)]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _offences(sources: tuple[str, ...], targets: tuple[str, ...]) -> set[tuple[str, str]]:
    return {
        (i.source, i.target)
        for i in IMPORTS
        if any(_in(i.source, s) for s in sources) and any(_in(i.target, t) for t in targets)
    }


def _check(found: set[tuple[str, str]], listed: set[tuple[str, str]]) -> None:
    assert found - listed == set(), "new imports across the layers"
    assert listed - found == set(), "fixed: delete these from the list in tests/unit/test_layering.py"


# Where settings meet PTB, by design, not offences: module -> the packages it may import.
EXCEPTIONS = {
    # bot/app.py builds the PTB Application from the settings and calls handlers.register(app): the one place
    # where the rules, the storage and Telegram are put together.
    "bot.app": ("telegram", "handlers"),
    # `riverbot summary --send` and the token check need a PTB Bot; imported lazily so that the other commands
    # start without loading PTB.
    "bot.cli": ("telegram",),
}

# Shrinks to empty with issue 11.
BOT_IMPORTS_HANDLERS: set[tuple[str, str]] = set()
HANDLERS_IMPORT_REPOSITORIES: set[tuple[str, str]] = set()
HANDLERS_USING_THE_STORE: set[str] = set()
CYCLES_THROUGH_LAZY_IMPORTS: list[set[str]] = []


def test_bot_and_storage_import_neither_telegram_nor_handlers() -> None:
    found = {
        (source, target)
        for source, target in _offences(("bot", "storage"), ("telegram", "handlers"))
        if not any(_in(target, allowed) for allowed in EXCEPTIONS.get(source, ()))
    }
    _check(found, BOT_IMPORTS_HANDLERS)


def test_storage_imports_nothing_from_bot() -> None:
    assert _offences(("storage",), ("bot",)) == set()


def test_handlers_import_no_storage_repository() -> None:
    # storage.records holds plain value classes, tolerated until handlers take the domain's types.
    found = {(s, t) for s, t in _offences(("handlers",), ("storage",)) if t != "storage.records"}
    _check(found, HANDLERS_IMPORT_REPOSITORIES)


def test_handlers_do_not_reach_the_store() -> None:
    found = set()
    for name, path in MODULES.items():
        if _in(name, "handlers"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if any(isinstance(node, ast.Attribute) and node.attr == "store" for node in ast.walk(tree)):
                found.add(name)
    assert found - HANDLERS_USING_THE_STORE == set(), "handlers call the domain services, not svc.store"
    assert HANDLERS_USING_THE_STORE - found == set(), "fixed: delete these from HANDLERS_USING_THE_STORE"


def _cycles(edges: set[tuple[str, str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for source, target in edges:
        if target in graph and target != source:
            graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_no_import_cycle_at_module_level() -> None:
    assert _cycles({(i.source, i.target) for i in IMPORTS if i.where == "module"}) == []


def test_no_cycle_hidden_by_a_function_level_import() -> None:
    found = _cycles({(i.source, i.target) for i in IMPORTS if i.where != "typing"})
    assert sorted(map(sorted, found)) == sorted(map(sorted, CYCLES_THROUGH_LAZY_IMPORTS))


def test_the_cycle_finder_finds_one() -> None:
    assert _cycles({("storage.store", "storage.repos"), ("storage.repos", "storage.store")}) == [
        {"storage.store", "storage.repos"}
    ]
