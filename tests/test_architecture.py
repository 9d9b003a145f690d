"""The package's import graph, read from the source with ``ast``: no import circle among
fastopt's modules (counting imports inside functions too), and no fastopt module imported
inside a function, the way to hide a circle from Python.  Libraries imported lazily
(matplotlib, tqdm, dask.array) are not fastopt modules and are free to stay so."""

import ast
from pathlib import Path

import fastopt

PACKAGE = Path(fastopt.__file__).parent
MODULES = {f"fastopt.{p.stem}": p for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"}
MODULES["fastopt"] = PACKAGE / "__init__.py"


def imported_modules(node):
    """The fastopt modules an import statement names (``from fastopt import x`` names the
    submodule x when there is one, else the package)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "fastopt"]
    if node.level:                   # relative: the package is flat, so "." is fastopt
        target = "fastopt" + (f".{node.module}" if node.module else "")
    else:
        target = node.module or ""
    if target.split(".")[0] != "fastopt":
        return []
    if target == "fastopt":
        return [f"fastopt.{a.name}" if f"fastopt.{a.name}" in MODULES else "fastopt"
                for a in node.names]
    return [target]


def scan(module):
    """(the fastopt modules it imports anywhere, those imported inside functions as
    'line: module')."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    imported, nested = set(), []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = imported_modules(child)
                imported.update(names)
                if in_function:
                    nested.extend(f"{child.lineno}: {name}" for name in names)
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return imported, nested


def import_graph():
    return {module: scan(module)[0] & set(MODULES) for module in MODULES}


def find_cycle(graph):
    """One import circle as a list of modules (first repeated at the end), or None."""
    state = {}                       # module -> "open" while on the DFS path, "done" after

    def dfs(module, path):
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = dfs(dep, path + [dep])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = dfs(module, [module])
            if cycle:
                return cycle
    return None


def test_the_graph_is_read():
    graph = import_graph()
    assert "fastopt.optimizers" in graph["fastopt._minimize"]
    assert "fastopt.schedules" in graph["fastopt.optimizers"]
    assert "fastopt._minimize" in graph["fastopt.lr_finder"]
    assert "fastopt.sparsity" in graph["fastopt"]            # `from fastopt import sparsity`


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_fastopt_import_inside_a_function():
    nested = {module: found for module in MODULES if (found := scan(module)[1])}
    assert not nested, f"fastopt modules imported inside functions: {nested}"


def test_schedules_depend_on_validation_only():
    assert import_graph()["fastopt.schedules"] == {"fastopt._validation"}
