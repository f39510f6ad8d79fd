"""Every public module declares ``__all__``, and every name in it exists (STYLE 5)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ["sharedcenter", "pipelines", "models", "worker"]


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        mod = importlib.import_module(package)
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{package}."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_module_declares_all(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def test_core_does_not_import_adapters_or_workers() -> None:
    """pipelines and models never import sharedcenter's database or web code; nothing imports worker."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for package in ("pipelines", "models"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert not node.module.startswith(("sharedcenter.db", "sharedcenter.api", "worker")), path
    for path in (root / "sharedcenter").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and path.name != "_run.py":
                assert not node.module.startswith("worker"), path
