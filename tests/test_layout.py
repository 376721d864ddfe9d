"""The layout's rules, read from the source: which part may import which, no import cycles, no
sys.path patching. Imports inside functions count as much as those at the top."""

import ast
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTS = ("model_service", "gateway", "ui", "training", "stack", "scripts")

# What each part may import of the others: the parts talk HTTP to each other, the pipeline shares
# the one inference module, the harness and the entry points start and measure the parts.
ALLOWED = {
    "model_service": set(),
    "gateway": set(),
    "ui": set(),
    "training": {"model_service.inference"},
    "stack": set(),
    "scripts": {"model_service", "gateway", "ui", "training", "stack"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> Iterator[Path]:
    for part in PARTS:
        yield from sorted((REPO_ROOT / part).rglob("*.py"))


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every absolute module name the file imports, with its line (relative imports resolved)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], base]).strip(".")
            yield node.lineno, base
            for alias in node.names:  # `from pkg import module` imports pkg.module
                yield node.lineno, f"{base}.{alias.name}"


def project_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in source_files()}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, imported in imported_modules(path):
            if imported in modules and imported != name:
                graph[name].add(imported)
    return graph


def test_parts_import_only_what_the_architecture_allows() -> None:
    offences = []
    for path in source_files():
        own = module_name(path).split(".")[0]
        for line, imported in imported_modules(path):
            top = imported.split(".")[0]
            if top == "tests":
                offences.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}")
            elif top in PARTS and top != own:
                allowed = ALLOWED[own]
                if not any(imported == a or imported.startswith(a + ".") for a in allowed):
                    offences.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}")
    assert not offences, "\n".join(offences)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one node: the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Module edges lifted to their folders (a package importing its own __init__ is no edge)."""

    def folder(name: str, is_package: bool) -> str:
        return name if is_package else name.rpartition(".")[0] or name

    packages = {module_name(p) for p in source_files() if p.name == "__init__.py"}
    folders: dict[str, set[str]] = {}
    for name, imports in graph.items():
        source = folder(name, name in packages)
        folders.setdefault(source, set())
        for imported in imports:
            target = folder(imported, imported in packages)
            if target != source and not source.startswith(target + "."):
                folders[source].add(target)
                folders.setdefault(target, set())
    return folders


def test_no_import_cycle_between_modules() -> None:
    assert strongly_connected(project_graph()) == []


def test_no_import_cycle_between_folders() -> None:
    assert strongly_connected(folder_graph(project_graph())) == []


def test_no_module_patches_sys_path() -> None:
    patches = [
        f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
        for path in source_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    ]
    assert not patches, "sys.path touched at " + ", ".join(patches)


def test_the_checks_see_a_cycle_and_a_forbidden_import() -> None:
    """The rules above are not vacuous: a made-up cycle and a made-up folder cycle are found."""
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert "gateway" not in ALLOWED["ui"] and "gateway" not in ALLOWED["training"]
