"""The device library stands alone: no module of ``edge_runtime`` imports another package of the repository."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import edge_runtime
from tests.edge.conftest import OTHER_PACKAGES

PACKAGE = Path(edge_runtime.__file__).parent

# Every edge_runtime module imported in a fresh process where the other packages cannot be found.
IMPORT_EVERY_MODULE = """
import importlib, importlib.abc, json, pkgutil, sys
blocked = set(json.loads(sys.argv[1]))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is blocked", name=name)
sys.meta_path.insert(0, Block())
import edge_runtime
names = [f"edge_runtime.{m.name}" for m in pkgutil.iter_modules(edge_runtime.__path__)]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "repository": sorted(m for m in sys.modules if m.split(".")[0] in blocked)}))
"""


def test_every_module_imports_with_the_other_packages_blocked() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE, json.dumps(OTHER_PACKAGES)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    expected = {f"edge_runtime.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert set(report["imported"]) == expected and "edge_runtime.contract" in expected
    assert report["repository"] == []


def test_no_module_names_another_package_even_lazily() -> None:
    # Imports inside functions run only when called, so the source is read too.
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.name}:{node.lineno} {name}" for name in names
                          if name.split(".")[0] in OTHER_PACKAGES]
        source = path.read_text(encoding="utf-8")
        offenders += [f"{path.name}: runs -m {package}" for package in OTHER_PACKAGES
                      if f'"-m", "{package}' in source]
    assert offenders == []
