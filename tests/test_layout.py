"""The package's shape, as issue "One pipeline" set it: small modules, a small logger module."""

from __future__ import annotations

import pathlib

import fmlogger

PACKAGE = pathlib.Path(fmlogger.__file__).parent


def _lines(path: pathlib.Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): _lines(p) for p in PACKAGE.rglob("*.py") if _lines(p) > 400}
    assert not long, f"split these modules (over 400 lines): {long}"


def test_the_logger_module_stays_under_250_lines():
    assert _lines(PACKAGE / "logger.py") < 250


def test_the_pipeline_is_visible_in_the_tree():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert {"capture", "render", "views", "sinks", "runs", "explain", "cli", "dashboard"} <= subpackages
