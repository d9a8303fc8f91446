"""The layout the team agreed on: no import cycle between our modules (imports inside functions
count) and no source file over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

SRC = ROOT / "src"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in SRC.rglob("*.py"):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports, anywhere in its body."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m and not m.startswith(t + "."):  # a package importing its own parts is fine
                    edges[m].add(t)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            for n in edges[todo.pop()]:
                if n == b:
                    return True
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return False

    return sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if reaches(b, a)})


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_our_modules():
    edges = import_graph()
    assert "tinynets.runtime" in edges["tinynets.run.task"]  # the graph sees imports at all
    assert "tinynets.runtime" in edges["tinynets.backprop.runner"]  # ... and inside functions
    assert cycles(edges) == []


def test_no_source_file_over_400_lines():
    big = {str(p.relative_to(SRC)): n for p in _modules().values() if (n := len(p.read_text().splitlines())) > 400}
    assert big == {}


# one owner each: text that may appear in that module only (tinynets.errors prints errors, tinynets.files
# writes CSV and picks matplotlib's backend, tinynets.checks says what a finite number is,
# tinynets.overrides parses `key=value`)
ONE_OWNER = {
    'print(f"error:': "tinynets/errors.py",
    "SystemExit(": "tinynets/errors.py",
    "matplotlib.use(": "tinynets/files.py",
    "csv.writer(": "tinynets/files.py",
    "csv.DictWriter(": "tinynets/files.py",
    "csv.DictReader(": "tinynets/files.py",
    "math.isfinite(": "tinynets/checks.py",
    '.partition("=")': "tinynets/overrides.py",
    '.split("=", 1)': "tinynets/overrides.py",
}
# search/ adopts the shared helpers in its own change (issue 26): until then these are its copies
NOT_YET: set[tuple[str, str]] = set()  # every module has adopted its contract's owner


def owners_breached(sources: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((text, path) for text, owner in ONE_OWNER.items() for path, code in sources.items()
                  if text in code and path != owner and (text, path) not in NOT_YET)


def test_the_checker_finds_a_second_owner():
    assert owners_breached({"tinynets/files.py": "csv.writer(f)", "tinynets/x.py": "import sys\nSystemExit(2)"}) \
        == [("SystemExit(", "tinynets/x.py")]


def test_each_shared_contract_has_one_owner():
    sources = {str(p.relative_to(SRC)): p.read_text() for p in _modules().values()}
    assert owners_breached(sources) == []
