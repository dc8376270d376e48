"""The house rules a newcomer relies on: which part may import which, how big
a store module may grow, and no circles among the CLI's modules."""
from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PARTS = ("crawler", "keywords", "pipelines", "reports")
# part -> the parts it may import (crawler.cli, the composer, may import all)
ALLOWED = {
    "keywords": set(),
    "pipelines": {"keywords"},
    "reports": {"pipelines", "keywords"},
    "crawler": {"pipelines", "keywords"},
}


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every absolute import in a file (module level and inside functions)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
            out += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return out


def _files(part: str):
    return sorted((Path(ROOT) / part).rglob("*.py"))


def test_parts_import_only_what_the_arrows_allow():
    wrong = []
    for part in PARTS:
        for path in _files(part):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("crawler/cli/"):
                continue            # the command line composes everything
            for module, line in _imports(path):
                top = module.split(".")[0]
                if top in PARTS and top != part and top not in ALLOWED[part]:
                    wrong.append(f"{rel}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_store_modules_stay_small():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in (Path(ROOT) / "pipelines" / "store").glob("*.py")}
    assert len(sizes) >= 10, sizes
    assert max(sizes.values()) <= 500, sizes


def test_cli_modules_have_no_import_circles():
    cli = Path(ROOT) / "crawler" / "cli"
    names = {p.stem for p in cli.glob("*.py")}
    graph = {}
    for path in cli.glob("*.py"):
        deps = set()
        for module, _ in _imports(path):
            parts = module.split(".")
            if parts[:2] == ["crawler", "cli"] and len(parts) > 2 and parts[2] in names:
                deps.add(parts[2])
        graph[path.stem] = deps - {path.stem}
    assert graph["common"] <= set(), f"common imports command modules: {graph['common']}"

    def visit(node, stack):
        for dep in graph.get(node, ()):
            assert dep not in stack, f"import circle: {' → '.join([*stack, dep])}"
            visit(dep, [*stack, dep])
    for name in graph:
        visit(name, [name])


def test_each_package_says_what_lives_there():
    for init in ("crawler/__init__.py", "crawler/cli/__init__.py", "pipelines/__init__.py",
                 "pipelines/store/__init__.py", "keywords/__init__.py", "reports/__init__.py"):
        doc = ast.get_docstring(ast.parse((Path(ROOT) / init).read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"{init}: the docstring should say what lives there and what it may import"
