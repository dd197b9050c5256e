"""The layout shows the architecture: no import cycle between sdpose_core's parts (function-local
imports count), no import of the app (explorer/) from sdpose_core, and no source file over 450 lines
in sdpose_core/ or explorer/.

``python tests/test_structure.py`` prints the graph between the parts, its cycles and long files.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sdpose_core"
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (module level or inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _part(module: str) -> str | None:
    """``sdpose_core.train.trainer`` -> ``train``; top-level modules (``cli``) are parts of their own."""
    pieces = module.split(".")
    if pieces[0] != PACKAGE or len(pieces) < 2:
        return None
    return pieces[1]


def part_graph() -> dict[str, dict[str, list[str]]]:
    """part -> {imported part: [the files that import it]}."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        source = _part(_module_name(path))
        if source is None:
            continue
        graph.setdefault(source, {})
        for module in _imported_modules(path):
            target = _part(module)
            if target is not None and target != source and (ROOT / PACKAGE / target).exists() | (
                    ROOT / PACKAGE / f"{target}.py").exists():
                graph[source].setdefault(target, []).append(str(path.relative_to(ROOT)))
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected parts with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def long_files() -> list[tuple[str, int]]:
    paths = sorted((ROOT / PACKAGE).rglob("*.py")) + sorted((ROOT / "explorer").rglob("*.py"))
    counts = [(str(p.relative_to(ROOT)), len(p.read_text().splitlines())) for p in paths]
    return [(name, n) for name, n in counts if n > MAX_LINES]


def _describe_cycle(graph, members: list[str]) -> str:
    edges = [f"  {a} -> {b}: {', '.join(sorted(set(graph[a][b])))}"
             for a in members for b in sorted(graph[a]) if b in members]
    return "cycle between " + ", ".join(members) + "\n" + "\n".join(edges)


def test_no_import_cycle_between_parts():
    graph = part_graph()
    found = cycles(graph)
    assert not found, "\n".join(_describe_cycle(graph, c) for c in found)


def test_the_library_never_imports_the_app():
    """Imports point from explorer/ (and notebooks) to sdpose_core, never back."""
    found = [str(path.relative_to(ROOT)) for path in sorted((ROOT / PACKAGE).rglob("*.py"))
             if any(m.split(".")[0] == "explorer" for m in _imported_modules(path))]
    assert not found, f"sdpose_core files that import explorer: {found}"


def test_no_long_source_file():
    assert not long_files(), f"files over {MAX_LINES} lines: {long_files()}"


if __name__ == "__main__":
    graph = part_graph()
    for part in sorted(graph):
        print(f"{part} -> {', '.join(sorted(graph[part])) or '-'}")
    found = cycles(graph)
    print(f"\n{len(found)} cycle(s)")
    for c in found:
        print(_describe_cycle(graph, c))
    print(f"\nfiles over {MAX_LINES} lines: {long_files() or 'none'}")
