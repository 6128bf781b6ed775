"""The package layout follows the data's path (faces -> models -> evaluation / analysis -> figures ->
cli) and its modules import each other without cycles."""

import ast
from pathlib import Path

import interpface

PKG = Path(interpface.__file__).resolve().parent
SUBPACKAGES = {"faces", "models", "evaluation", "analysis", "figures", "cli"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """interpface modules imported at module level (imports inside functions are deferred: no cycle)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("interpface")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("interpface"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from pkg import submodule`
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import; the package uses absolute imports")
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for imported in _top_level_imports(path):
            # `import a.b.c` runs a, a.b and a.b.c: the deepest one that is a module of ours
            while imported not in modules and "." in imported:
                imported = imported.rsplit(".", 1)[0]
            if imported in modules and imported != name:
                deps.add(imported)
        graph[name] = deps
    return graph


def test_top_level_holds_only_the_subpackages():
    loose = {p.stem for p in PKG.glob("*.py")} - {"__init__", "__main__", "_lazy", "errors"}
    assert loose == set(), f"modules outside the subpackages: {sorted(loose)}"
    assert SUBPACKAGES <= {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}


def test_no_import_cycles():
    graph = _graph()
    assert len(graph) > 50
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            # a package's __init__ is run before its submodules: importing interpface.x.y runs interpface.x
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_public_names_resolve():
    for name in interpface.__all__:
        assert getattr(interpface, name) is not None
