"""core/model's boundaries, read from its source: no environment variables (the settings pass
every choice in), each kernel package (`kernels.msa`, `kernels.moe`, `kernels.norm`) only through
its package surface, and no import cycles."""

import ast
from pathlib import Path

import pytest

MODEL = Path(__file__).resolve().parents[2] / "core" / "model"
FILES = sorted(MODEL.glob("*.py"))


def imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in the file, functions included; level 1 = `from .x`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.append((node.level, node.module or ""))
        elif isinstance(node, ast.Import):
            out.extend((0, alias.name) for alias in node.names)
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_environment_variables(path):
    text = path.read_text()
    assert "os.environ" not in text and "getenv" not in text


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_kernels_only_through_the_package(path):
    deep = [m for level, m in imports(path) if level == 0 and m.startswith("kernels.") and m.count(".") > 1]
    assert not deep, f"{path.name} reaches into {deep}; import from the kernel package (kernels.<name>)"


def test_no_import_cycles():
    graph = {p.stem: {m.split(".")[0] for level, m in imports(p) if level == 1 and m} for p in FILES}

    def visit(node, path):
        assert node not in path, f"import cycle: {' -> '.join(path + [node])}"
        for nxt in graph.get(node, ()):
            visit(nxt, path + [node])

    for node in graph:
        visit(node, [])
