"""Every example in the clv package's docstrings runs and prints what it says."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import clv

MODULES = ["clv", *(f"clv.{m.name}" for m in pkgutil.iter_modules(clv.__path__))]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_library_imports_only_numpy_scipy_pandas_and_the_standard_library():
    """No dagster, dbt or lifetimes: clv is a plain numerical library (lifetimes is a test oracle)."""
    allowed = {"numpy", "scipy", "pandas", "clv", *sys.stdlib_module_names}
    for path in Path(clv.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"
