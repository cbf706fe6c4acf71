"""The shape of the house: no import circles, roles by package, old public names still importable."""

import ast
import importlib
from pathlib import Path

import pytest

import gankit

SRC = Path(gankit.__file__).parent


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the gankit modules it imports, anywhere in its body (inside functions too)."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                # `from a import b` imports the submodule a.b where there is one, else module a
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_gankit():
    graph = import_graph(SRC)
    assert len(graph) > 40  # the walk really read the package
    assert "gankit.engines.state" in graph["gankit.engines.fast"]
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """Negative control: two modules that import each other (one inside a function) are caught."""
    pkg = tmp_path / "gankit"
    (pkg / "engines").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engines" / "__init__.py").write_text("")
    (pkg / "engines" / "a.py").write_text("from gankit.engines.b import f\n")
    (pkg / "engines" / "b.py").write_text("def f():\n    from gankit.engines import a\n")
    (pkg / "c.py").write_text("from .engines import a\n")
    assert cycles(import_graph(pkg)) == [["gankit.engines.a", "gankit.engines.b"]]


def test_about_a_dozen_entries_at_the_top():
    entries = [p.name for p in SRC.iterdir() if not p.name.startswith(("_", ".")) and p.name != "py.typed"]
    assert 8 <= len(entries) <= 15, sorted(entries)


@pytest.mark.parametrize("name, where", [
    ("gankit.ganlab", "gankit.viz.ganlab"), ("gankit.live", "gankit.viz.live"),
])
def test_old_public_module_paths_still_import(name, where):
    assert importlib.import_module(name) is importlib.import_module(where)


def test_public_names():
    from gankit import Config, TrainState, run_experiment, train
    from gankit.ganlab import plot_ganlab
    from gankit.live import LivePlot
    from gankit.metrics import twosample

    assert callable(train) and callable(run_experiment) and callable(plot_ganlab)
    assert Config().train.epochs == 20 and TrainState.__name__ == "TrainState"
    assert LivePlot.__module__ == "gankit.viz.live" and hasattr(twosample, "mmd_test")
    assert gankit.ganlab.plot_ganlab is plot_ganlab
    with pytest.raises(ImportError):
        importlib.import_module("gankit.no_such_module")
