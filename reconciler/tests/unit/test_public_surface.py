"""The engine's public surface: other packages import `reconciler` itself, never a submodule,
and only the pipeline imports it at all (common, mcp and analytics images carry no engine)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reconciler

ROOT = Path(__file__).resolve().parents[3]
# package dir -> may it import the engine (through `reconciler` only)?
OTHERS = {"pipeline": True, "common": False, "mcp": False, "analytics": False}


def _engine_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of `reconciler` or a submodule in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m.split(".")[0] == "reconciler"]
    return found


def test_every_public_name_resolves() -> None:
    missing = [name for name in reconciler.__all__ if not hasattr(reconciler, name)]
    assert missing == []


@pytest.mark.parametrize("package", sorted(OTHERS))
def test_other_packages_use_only_the_public_surface(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files: the layout changed, update this test"
    wrong = []
    for path in files:
        if ".venv" in path.parts or ".nox" in path.parts:
            continue
        for line, module in _engine_imports(path):
            if module != "reconciler" or not OTHERS[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert wrong == []


def test_no_package_imports_another_packages_private_module() -> None:
    """A module named `_x` is its package's own business, whichever package it is in."""
    owners = {
        "common": {"factory_common", "factory_common_testing"},
        "reconciler": {"reconciler"},
        "pipeline": {"factory_pipeline"},
        "mcp": {"factory_mcp"},
        "analytics": {"factory_analytics"},
    }
    tops = set().union(*owners.values())
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if {".venv", ".nox", "build"} & set(relative.parts):
            continue
        own = owners.get(relative.parts[0], set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            parts = node.module.split(".")
            private = any(p.startswith("_") and not p.startswith("__") for p in parts)
            if parts[0] in tops and parts[0] not in own and private:
                wrong.append(f"{relative}:{node.lineno}: {node.module}")
    assert wrong == []


def test_names_imported_from_the_engine_are_public() -> None:
    unknown = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "reconciler":
                unknown += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {a.name}"
                    for a in node.names
                    if a.name not in reconciler.__all__
                ]
    assert unknown == []
