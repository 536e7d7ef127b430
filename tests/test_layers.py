"""The package's layering (README "Layout"): a module never imports a layer above its own, and there are no
import cycles between components. Lazy imports inside functions count: they are edges all the same. Entry
points (``__main__.py``: ``python -m vla.train``, ``python -m vla.eval``) are never imported and sit on top."""

from __future__ import annotations

import ast
from pathlib import Path

import vla

LAYERS: dict[str, int] = {
    "vla.config": 0,
    "vla.errors": 0,
    "vla._logging": 0,
    "vla.distributed": 0,
    "vla.launch": 0,  # accelerate launch without its traceback (imports accelerate and torch only)
    "vla.versions": 0,
    "vla.testing": 8,  # helpers for tests and bench/: nothing in vla imports it
    "vla.hub": 1,
    "vla.tokenizers": 2,
    "vla.envs": 2,
    "vla.data": 3,
    "vla.model": 4,
    "vla.train": 5,
    "vla.eval": 5,
    "vla.experiment": 6,
    "vla.demo": 6,
    "vla.cli": 7,
    "vla.__main__": 8,
}
PACKAGE = Path(vla.__file__).parent


def component(module: str) -> str:
    return ".".join(module.split(".")[:2])


def import_edges() -> set[tuple[str, str]]:
    edges = set()
    for file in PACKAGE.rglob("*.py"):
        if file.name == "__main__.py":
            continue
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if file.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    targets = [".".join(base + ([node.module] if node.module else []))]
                else:
                    targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == "vla" and target != "vla":
                    if component(module) != component(target):
                        edges.add((component(module), component(target)))
    return edges


def test_every_component_has_a_layer():
    edges = import_edges()
    assert {("vla.train", "vla.model"), ("vla.eval", "vla.envs"), ("vla.model", "vla.tokenizers")} <= edges
    components = {a for a, _ in edges} | {b for _, b in edges}
    assert components <= set(LAYERS), sorted(components - set(LAYERS))


def test_no_component_imports_a_layer_above_its_own():
    upward = sorted(f"{a} -> {b}" for a, b in import_edges() if LAYERS[b] > LAYERS[a])
    assert upward == []


def test_no_import_cycles():
    edges = import_edges()
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, ()):
            if nxt in path:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif len(path) < len(LAYERS):
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    assert cycles == []
