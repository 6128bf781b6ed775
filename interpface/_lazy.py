"""Lazy re-exports: a package lists {public name: submodule} and imports a submodule only when one of
its names is first used (keeps `import interpface` fast and torch-free for the data tools)."""

from __future__ import annotations

from importlib import import_module


def lazy_getattr(package: str, exports: dict[str, str], namespace: dict):
    """A module-level __getattr__ for `package` that resolves names from `exports` and caches them in
    the package's `namespace` (its globals())."""

    def __getattr__(name):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    return __getattr__
