"""The package layout follows the data's path and its modules import each other without a circle.

Layers, bottom to top (a module imports only from its own group or a lower layer):

    0  interpface.errors, interpface.files              (shared helpers: errors, JSON, package data)
    1  interpface.faces                                 (a file -> an aligned crop)
    2  interpface.models                                (crops -> embeddings, intermediates)
    3  interpface.evaluation | interpface.analysis | training   (siblings: none imports another)
    4  interpface.figures                               (arrays / analyses -> plotly figures)
    5  interpface.cli | interpface.dashboard | interpface.__main__  (siblings, except __main__ -> cli)

``interpface/__init__.py`` is the facade: it may name anything (its names are imported on first use), and
nothing inside imports it.

Every import counts, deferred ones included: the graph is an ast walk of every Import / ImportFrom
node anywhere in each module (functions, methods, ``if TYPE_CHECKING:`` blocks), relative imports
resolved. Importing ``a.b.c`` from outside package ``a.b`` also runs ``a.b``'s ``__init__``, so that
edge is in the graph too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import interpface

PKG = Path(interpface.__file__).resolve().parent
ROOT = PKG.parent
SUBPACKAGES = {"faces", "models", "evaluation", "analysis", "figures", "cli", "dashboard"}

#: group -> layer; a module's group is its first two dotted parts (interpface.x) or "training"
LAYERS = {
    "interpface.errors": 0,
    "interpface.files": 0,
    "interpface.faces": 1,
    "interpface.models": 2,
    "interpface.evaluation": 3,
    "interpface.analysis": 3,
    "training": 3,
    "interpface.figures": 4,
    "interpface.cli": 5,
    "interpface.dashboard": 5,
    "interpface.__main__": 5,
}
FACADE = "interpface"
#: same-layer imports that are allowed across groups
SIBLING_EDGES = {("interpface.__main__", "interpface.cli"), ("interpface.files", "interpface.errors")}


def _module_files() -> dict[str, Path]:
    files = {}
    for top in (PKG, ROOT / "training"):
        for path in top.rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _is_package(name: str, files: dict[str, Path]) -> bool:
    return files[name].name == "__init__.py"


def _imported_names(name: str, path: Path, files: dict[str, Path]) -> list[tuple[str, int]]:
    """(dotted name, line) of every import anywhere in the module, relative imports made absolute."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if name.startswith("interpface"):
                    raise AssertionError(f"{path}:{node.lineno}: relative import; interpface uses absolute imports")
                package = name if _is_package(name, files) else name.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    package = package.rsplit(".", 1)[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            found.append((base, node.lineno))
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names]  # `from pkg import submodule`
    return found


def _graph(files: dict[str, Path] | None = None) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    """module -> {module it runs on import: line}, for interpface and training (or the given files)."""
    files = _module_files() if files is None else files
    graph = {}
    for name, path in files.items():
        deps: dict[str, int] = {}
        for imported, line in _imported_names(name, path, files):
            if not imported.startswith(("interpface", "training")):
                continue
            # `import a.b.c` runs a, a.b and a.b.c: the deepest one that is a module of ours
            while imported not in files and "." in imported:
                imported = imported.rsplit(".", 1)[0]
            if imported not in files or imported == name:
                continue
            deps.setdefault(imported, line)
            # ... and the packages above it that the importer is not already inside (but the facade: it runs
            # first, and at run time imports interpface.errors alone; test_import_interpface_is_light)
            parent = imported.rsplit(".", 1)[0] if "." in imported else ""
            while parent and parent != FACADE and not (name == parent or name.startswith(parent + ".")):
                if parent in files:
                    deps.setdefault(parent, line)
                parent = parent.rsplit(".", 1)[0] if "." in parent else ""
        graph[name] = deps
    return graph, files


def _group(module: str) -> str:
    if module == FACADE:
        return FACADE
    parts = module.split(".")
    return "training" if parts[0] == "training" else ".".join(parts[:2])


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def upward_imports(graph: dict[str, dict[str, int]], files: dict[str, Path]) -> list[str]:
    bad = []
    for module, deps in sorted(graph.items()):
        src = _group(module)
        for dep, line in sorted(deps.items()):
            dst = _group(dep)
            path = files[module]
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{line}: {module} -> {dep}"
            if dst == FACADE:
                bad.append(f"{where} (the facade interpface/__init__.py is imported by no module)")
            elif src in (FACADE, dst) or (src, dst) in SIBLING_EDGES:
                continue
            elif LAYERS[dst] > LAYERS[src]:
                bad.append(f"{where} (layer {LAYERS[src]} imports layer {LAYERS[dst]})")
            elif LAYERS[dst] == LAYERS[src]:
                bad.append(f"{where} (siblings in layer {LAYERS[src]})")
    return bad


def test_top_level_holds_only_the_subpackages_and_the_shared_helpers():
    loose = {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__", "errors", "files"}
    assert loose == set(), f"modules outside the subpackages: {sorted(loose)}"
    assert SUBPACKAGES <= {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}


def test_every_module_belongs_to_a_layer():
    graph, _ = _graph()
    assert len(graph) > 60
    assert {_group(m) for m in graph} - {FACADE} <= set(LAYERS), sorted({_group(m) for m in graph} - set(LAYERS))


def test_no_import_cycles():
    graph, _ = _graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_upward_imports():
    graph, files = _graph()
    bad = upward_imports(graph, files)
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_a_deferred_circle_and_a_deferred_upward_import_are_found(tmp_path):
    """Imports inside functions are edges like any other: a circle through one fails."""
    (tmp_path / "a.py").write_text("def f():\n    from interpface.evaluation.b import g\n    return g\n")
    (tmp_path / "b.py").write_text("from interpface.models.a import f\n\n\ndef g():\n    return f\n")
    graph, files = _graph({"interpface.models.a": tmp_path / "a.py", "interpface.evaluation.b": tmp_path / "b.py"})
    assert find_cycle(graph) == ["interpface.evaluation.b", "interpface.models.a", "interpface.evaluation.b"]
    assert [b.split(": ")[1] for b in upward_imports(graph, files)] == [
        "interpface.models.a -> interpface.evaluation.b (layer 2 imports layer 3)"
    ]


@pytest.mark.parametrize("folder", ["scripts", "benchmarks"])
def test_scripts_import_no_private_module(folder):
    """Scripts use the public API: no `_private` module of interpface or training."""
    bad = []
    for path in sorted((ROOT / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules, names = [a.name for a in node.names], []
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules, names = [node.module or ""], [a.name for a in node.names]
            else:
                continue
            ours = [m for m in modules if m.split(".")[0] in ("interpface", "training")]
            private = [m for m in ours if any(p.startswith("_") for p in m.split(".")[1:])]
            private += [f"{ours[0]}.{n}" for n in names if ours and n.startswith("_") and not n.startswith("__")]
            bad += [f"{path.relative_to(ROOT)}:{node.lineno}: {m}" for m in private]
    assert not bad, "scripts importing private modules:\n" + "\n".join(bad)


def test_public_names_resolve():
    """`__all__` is the TYPE_CHECKING block's names (what type checkers see) plus the errors, and each resolves."""
    import interpface.errors

    errors = {n for n in vars(interpface.errors) if n.endswith("Error") and n[0].isupper()}
    assert set(interpface.__all__) == set(interpface._lazy_names()) | errors | {"__version__"}
    for name in interpface.__all__:
        assert getattr(interpface, name) is not None


def test_import_interpface_is_light():
    """`import interpface` imports neither torch nor the subpackages (the data tools run without torch)."""
    import subprocess
    import sys

    code = "import sys, interpface; print(sorted(m for m in sys.modules if m.startswith(('interpface', 'torch'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['interpface', 'interpface.errors']"
