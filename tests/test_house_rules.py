"""The house rules of DESIGN.md as static checks (``ast``; nothing is imported from pages/ or run).

* pages/ (components included) import only xai_core's public API: ``xai_core`` itself, names in its ``__all__``,
  and public modules listed there (``methods``, ``metrics``, ``noise``, ``viz``, ``settings``, ``jobs``,
  ``teaching``, ``checks``, ``sanity``, ``study``) with names each exports;
* pages/ hold no torch code (no ``torch`` import);
* xai_core never imports streamlit;
* only xai_core/hooks/ registers hooks (``register_*hook`` calls);
* the error boundary is app.py's alone: no page catches ``Exception``;
* every ``XAI_*`` environment variable named in the code is declared in ``xai_core.settings``;
* pages are short (the DESIGN's ~150 lines).
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import xai_core
from xai_core import settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "pages").rglob("*.py"))
ENGINE = sorted((ROOT / "xai_core").rglob("*.py"))
PAGE_FILES = sorted((ROOT / "pages").glob("*.py"))
MAX_PAGE_LINES = 160


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) of every import in ``path`` (``import a.b`` gives ("a.b", []))."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]


def _exported(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    return set(names) if names is not None else {n for n in vars(module) if not n.startswith("_")}


def _public_modules() -> set[str]:
    return {n for n in xai_core.__all__ if importlib.util.find_spec(f"xai_core.{n}") is not None}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_pages_import_only_the_public_api() -> None:
    public_modules, top = _public_modules(), set(xai_core.__all__)
    bad = []
    for path in PAGES:
        for line, module, names in _imports(path):
            if module == "xai_core":
                bad += [f"{_rel(path)}:{line} xai_core.{n}" for n in names if n not in top]
            elif module.startswith("xai_core."):
                sub = module.split(".", 1)[1]
                if sub not in public_modules:
                    bad.append(f"{_rel(path)}:{line} {module} (not a public module)")
                    continue
                exported = _exported(module)
                bad += [f"{_rel(path)}:{line} {module}.{n}" for n in names if n not in exported]
    assert not bad, "pages reach past xai_core's public API:\n" + "\n".join(bad)


def test_no_torch_in_pages() -> None:
    bad = [
        f"{_rel(p)}:{line} {module}"
        for p in PAGES
        for line, module, _ in _imports(p)
        if module == "torch" or module.startswith("torch.")
    ]
    assert not bad, "torch code belongs in xai_core:\n" + "\n".join(bad)


def test_no_streamlit_in_the_engine() -> None:
    bad = [
        f"{_rel(p)}:{line} {module}"
        for p in ENGINE
        for line, module, _ in _imports(p)
        if module.split(".")[0] == "streamlit"
    ]
    assert not bad, "xai_core must not import streamlit:\n" + "\n".join(bad)


def test_hooks_are_registered_only_in_the_hooks_package() -> None:
    bad = []
    for path in [*ENGINE, *PAGES]:
        if path.is_relative_to(ROOT / "xai_core" / "hooks"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and re.fullmatch(r"register_\w*hook", node.attr):
                bad.append(f"{_rel(path)}:{node.lineno} .{node.attr}")
    assert not bad, "hooks are registered only in xai_core/hooks/:\n" + "\n".join(bad)


def _catches_everything(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    broad = ("Exception", "BaseException")
    return handler.type is None or any(isinstance(n, ast.Name) and n.id in broad for n in names)


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_pages_leave_the_error_boundary_to_app_py(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    broad = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and _catches_everything(n)]
    assert not broad, f"{path.name} catches every exception at lines {broad}: app.py is the one error boundary"


@pytest.mark.parametrize("path", [p for p in PAGE_FILES if not p.name.startswith("study_")], ids=lambda p: p.name)
def test_pages_are_short(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_PAGE_LINES, f"{path.name} has {lines} lines: move logic into pages/components or xai_core"


def test_every_environment_setting_is_declared() -> None:
    declared = {s.name for s in settings.SETTINGS}
    named = set()
    for path in [*ENGINE, *PAGES, ROOT / "app.py"]:
        named |= set(re.findall(r"\bXAI_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert named <= declared, f"declare these in xai_core/settings.py: {sorted(named - declared)}"


def test_the_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in readme, "README's settings table is stale: paste settings.markdown_table()"


def _is_command_line(path: Path) -> bool:
    """The command line is an application, as app.py is: it configures logging for its run."""
    return path.name == "cli.py" or "cli" in path.relative_to(ROOT / "xai_core").parts[:-1]


def test_the_engine_logs_through_module_loggers() -> None:
    bad = []
    for path in ENGINE:
        if _is_command_line(path):
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"logging\.getLogger\(([^)]*)\)", text):
            if match.group(1) not in ("__name__",) and path.name != "__init__.py":
                bad.append(f"{_rel(path)}: getLogger({match.group(1)})")
        if re.search(r"logging\.basicConfig|addHandler\((?!logging\.NullHandler)", text):
            bad.append(f"{_rel(path)}: configures logging (the application does that)")
    assert not bad, "\n".join(bad)
