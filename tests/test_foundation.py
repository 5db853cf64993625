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


@pytest.mark.parametrize("package", ["core", "core.agent", "core.agent.loop", "core.agent.cli", "core.chat", "core.desktop", "core.engine", "core.history", "core.ingest", "core.models", "core.server", "kernels"])
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
    [("app", {"kernels"}), ("core", {"PySide6", "app"}), ("kernels", {"PySide6", "app", "core"})],
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


def _runtime_imports(path: Path, package: str) -> set[str]:
    """Absolute names of the modules `path` imports at run time (functions included, blocks under
    `if TYPE_CHECKING:` left out), relative imports resolved against `package`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            if node.module:  # `from . import x` imports the submodule x, not its package again
                found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _module_graph() -> dict[str, set[str]]:
    modules = {}
    for layer in ("core", "kernels"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            package = ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")
            name = ".".join(parts).removesuffix(".__init__")
            modules[name] = (path, package)
    return {name: {m for m in _runtime_imports(path, package) if m in modules and m != name}
            for name, (path, package) in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail, node, nxt]
            if nxt not in state and (found := visit(nxt, [*trail, node])):
                return found
        state[node] = 2
        return None

    return next((c for n in sorted(graph) if n not in state and (c := visit(n, []))), None)


def test_no_import_loops_between_modules_or_between_core_packages():
    graph = _module_graph()
    assert _cycle(graph) is None, _cycle(graph)
    packages: dict[str, set[str]] = {}
    for module, deps in graph.items():
        home = ".".join(module.split(".")[:2])
        packages.setdefault(home, set()).update(".".join(d.split(".")[:2]) for d in deps)
    for home in packages:
        packages[home].discard(home)
    assert _cycle(packages) is None, _cycle(packages)


# within core, lower packages never reach up: the model runtime knows nothing of engines or the
# conversation, ingestion and history know no engine, the engine knows no conversation
CORE_FORBIDDEN = {
    "core.model": {"core.engine", "core.chat", "core.desktop", "core.ingest", "core.history", "core.cli"},
    "core.vision": {"core.engine", "core.chat", "core.desktop", "core.ingest", "core.history", "core.cli"},
    "core.ingest": {"core.engine", "core.chat", "core.model", "core.vision", "core.cli"},
    "core.history": {"core.engine", "core.chat", "core.model", "core.ingest", "core.cli"},
    "core.desktop": {"core.engine", "core.chat", "core.model", "core.cli"},
    "core.engine": {"core.chat", "core.cli", "core.desktop", "core.ingest", "core.history"},
    "core.chat": {"core.model", "core.vision", "core.cli", "core.engine.msa", "core.engine.gguf"},
    "core.models": {"core.engine", "core.chat", "core.model", "core.vision", "core.ingest", "core.history", "core.cli"},
    # the agent speaks the Engine protocol only: no backend, no runtime, no conversation
    "core.agent": {"core.model", "core.vision", "core.chat", "core.server", "core.engine.msa", "core.engine.gguf",
                   "core.engine.remote"},
    # the server speaks the Engine protocol only: no backend, no conversation, no history
    "core.server": {"core.model", "core.vision", "core.chat", "core.history", "core.desktop", "core.cli",
                    "core.engine.msa", "core.engine.gguf"},
}


@pytest.mark.parametrize("home", sorted(CORE_FORBIDDEN))
def test_core_packages_import_downwards_only(home):
    bad = {m: sorted(d for d in deps if any(d == f or d.startswith(f + ".") for f in CORE_FORBIDDEN[home]))
           for m, deps in _module_graph().items() if m == home or m.startswith(home + ".")}
    assert {m: d for m, d in bad.items() if d} == {}


def test_torch_stays_inside_the_msa_engine_and_the_runtime():
    allowed = ("core.model", "core.vision", "core.engine.msa", "kernels")
    users = []
    for layer in ("core", "kernels", "app"):
        for path in (ROOT / layer).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            imported = _runtime_imports(path, ".".join(parts[:-1]))
            if any(m.split(".")[0] in ("torch", "triton") for m in imported):
                users.append(".".join(parts))
    assert sorted(u for u in users if not u.startswith(allowed)) == []
