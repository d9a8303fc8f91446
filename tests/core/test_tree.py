"""The tree reads as the architecture (issue 26): every directory of tinynets is a package, every
module opens with a line saying what it is, no two names in a package differ only by a suffix, and no
module finds files through `__file__` (shipped files come through importlib.resources: tinynets.config.conf_dir, tinynets.files.template)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PKG = ROOT / "src" / "tinynets"


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def suffixed(names: set[str]) -> list[tuple[str, str]]:
    """Pairs of names where one is the other plus a `_suffix` (`search`, `search_space`)."""
    return sorted((a, b) for a in names for b in names if b.startswith(a + "_"))


def test_the_checker_finds_a_suffixed_name():
    assert suffixed({"search", "search_space", "results", "resume"}) == [("search", "search_space")]


def test_every_directory_is_a_package():
    dirs = {p.parent for p in _sources()}
    assert [str(d.relative_to(PKG)) for d in sorted(dirs) if not (d / "__init__.py").is_file()] == []


def test_every_module_says_what_it_is():
    silent = [str(p.relative_to(PKG)) for p in _sources()
              if not (ast.get_docstring(ast.parse(p.read_text())) or "").strip()]
    assert silent == []


def test_no_two_names_differ_by_a_suffix():
    found = []
    for d in sorted({p.parent for p in _sources()}):
        names = {p.stem for p in d.glob("*.py")} | {c.name for c in d.iterdir() if (c / "__init__.py").is_file()}
        found += [(str(d.relative_to(PKG)), a, b) for a, b in suffixed(names - {"__init__", "__main__"})]
    assert found == []


def test_no_module_finds_files_through_its_own_path():
    assert [str(p.relative_to(PKG)) for p in _sources() if "__file__" in p.read_text()] == []
