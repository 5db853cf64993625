"""Repository foundation: the layer rule, the entry point and the CI script.

Imports go one way, app → core → kernels (SPEC.md). Checking the rule both by
importing with PySide6 blocked and by reading every import statement catches a
Qt import that only happens on some code path as well as one at import time.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("package", ["core", "kernels"])
def test_imports_without_qt(package):
    code = f"import sys\nsys.modules['PySide6'] = None\nimport {package}\n"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [("core", {"PySide6", "app"}), ("kernels", {"PySide6", "app", "core"})],
)
def test_layer_rule(layer, forbidden):
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no Python files under {layer}/"
    violations = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & forbidden) for path in files
    }
    assert {path: bad for path, bad in violations.items() if bad} == {}


def test_version_command():
    result = run_python("-m", "app", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "spyglass 0.1.0"


def test_ci_script_runs_make_test():
    script = ROOT / ".ci" / "run"
    assert script.is_file()
    assert os.access(script, os.X_OK)
    assert "make test" in script.read_text()
