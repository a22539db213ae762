"""The package's layers: every import in guard/ points down (or sideways) the declared order, no
module imports itself back through others (a cycle), and no module outgrows 400 lines unless its
docstring says why (one cohesive table).

A request walks the layers top to bottom (proxy -> act -> scanner -> extract -> match -> types);
a newcomer finds each step as a module of its name. The imports are read with `ast` from the
files. Every import, lazy (inside a function) or not, must point down or sideways. Cycles are
looked for among the imports that run when a module is imported: a container format calling
back into extraction's dispatcher (an archive holds files, a JSON string holds a JSON body) is
recursion within one layer, taken lazily on purpose, not a circle of modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "guard"

# Bottom up. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("guard.errors", "guard.types", "guard.yamlfile", "guard.rules", "guard.scope"),  # data types
    ("guard.normalize", "guard.decode", "guard.obs", "guard.pseudo"),
    ("guard.match",),
    ("guard.extract", "guard.adapters"),
    ("guard.decide",),
    ("guard.policy", "guard.identity"),
    ("guard.scanner",),
    ("guard.catalog", "guard.audit", "guard.respond", "guard.display", "guard.coaching"),
    ("guard",),                      # the package's facade: `from guard import Engine`
    # the proxy: state -> act -> {classify, ack, inspect} -> {websocket, stream} -> the addon
    ("guard.proxy", "guard.proxy.dispatch", "guard.proxy.body", "guard.proxy.shadow", "guard.proxy.uploads", "guard.proxy.acks",
     "guard.proxy.scale", "guard.proxy.no_intercept", "guard.proxy.pseudo"),
    ("guard.proxy.pool",),
    ("guard.proxy.snapshot",),
    ("guard.proxy.state", "guard.proxy.trail", "guard.proxy.deadline", "guard.proxy.telemetry",
     "guard.proxy.shipping"),
    ("guard.proxy.act",),
    ("guard.proxy.classify", "guard.proxy.inspect", "guard.proxy.ack"),
    ("guard.proxy.websocket", "guard.proxy.stream", "guard.proxy.upstream"),
    ("guard.proxy.addon",),
    ("guard.proxy.master",),
    ("guard.console", "guard.pac"),
    ("guard.cli",),
]

# Upward imports still to be removed, each with the reason it stands today. An entry that no
# longer occurs fails the test too: remove it with the import.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}

MAX_LINES = 400
# Modules over MAX_LINES whose split is pending with the engineer editing them (issue 30): the
# test names them rather than passing silently. A module may instead stay long when its
# docstring says which single table justifies it, in a line starting "Over 400 lines:".
PENDING_SPLIT: set[str] = set()


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def layer_of(name: str) -> int:
    best, layer = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and len(p) > best:
                best, layer = len(p), i
    if layer is None:
        raise AssertionError(f"{name}: not in any layer of tests/test_layers.py: declare where it belongs")
    return layer


def _import_nodes(tree: ast.AST, lazy: bool = False):
    """(node, inside a function?) for every import statement."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, lazy
        else:
            yield from _import_nodes(node, lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def imports_of(name: str, path: Path, at_import: bool = False) -> set[str]:
    """The guard modules `name` imports (a package's __init__ when a name is taken from it);
    with at_import, only those imported when `name` itself is (not inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node, lazy in _import_nodes(tree):
        if at_import and lazy:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES]
            targets = subs if len(subs) == len(node.names) else subs + [module]
        for t in targets:
            while t and t not in MODULES:  # `import guard.a.b` names guard.a.b; a missing name, its package
                t = t.rpartition(".")[0]
            if t.startswith("guard") and t != name:
                out.add(t)
    return out


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}
AT_IMPORT = {name: imports_of(name, path, at_import=True) for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)


def test_no_import_points_up():
    upward = []
    for name, targets in GRAPH.items():
        for t in targets:
            if layer_of(t) > layer_of(name) and (name, t) not in KNOWN_UPWARD:
                upward.append(f"{name} imports {t}")
    assert not upward, "imports from a higher layer:\n  " + "\n  ".join(sorted(upward))
    stale = [k for k in KNOWN_UPWARD if k[1] not in GRAPH.get(k[0], ())]
    assert not stale, f"KNOWN_UPWARD entries that no longer occur (remove them): {stale}"


def test_no_import_cycle():
    # Tarjan's strongly connected components: any component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in AT_IMPORT[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in AT_IMPORT:
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_modules_stay_small():
    over = {}
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_LINES and "Over 400 lines:" not in doc:
            over[name] = n
    assert set(over) <= PENDING_SPLIT, (
        "modules over 400 lines without a reason in their docstring: "
        + ", ".join(f"{m} ({n})" for m, n in sorted(over.items()) if m not in PENDING_SPLIT))
    stale = PENDING_SPLIT - set(over)
    assert not stale, f"PENDING_SPLIT entries now within the limit (remove them): {sorted(stale)}"


@pytest.mark.parametrize("name, target", [
    ("guard.match.matcher", "guard.rules"),
    ("guard.policy.loader", "guard.scope"),
    ("guard.proxy.addon", "guard.proxy.classify"),
])
def test_the_walk_sees_imports(name, target):
    """The graph is read, not empty: known imports are found."""
    assert target in GRAPH[name]
