"""The docs: every ```python block of docs/*.md and README.md runs, and the API reference builds.

Blocks that need a model or data get ``PREAMBLE``: ``x, y`` (256 digits, 32x32x1), ``x_val, y_val``
(64 more) and ``model``, the demo CNN, compiled. Each block runs in a fresh namespace, in a
temporary working folder (so ``"runs/..."`` lands there). A block may be skipped only by an HTML
comment ``<!-- no-run: reason -->`` on the line just above it.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(
    os.path.join("docs", n) for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md")
)
PREAMBLE = """
import keras
import numpy as np
from fmlogger.cli.demo import build_demo_model, load_digits_32

keras.utils.set_random_seed(0)
_x, _y = load_digits_32()
x, y = _x[:256], _y[:256]
x_val, y_val = _x[256:320], _y[256:320]
model = build_demo_model()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
"""
BLOCK = re.compile(r"(?:^<!-- no-run: (?P<reason>[^>]*) -->\n)?^```python\n(?P<code>.*?)^```", re.M | re.S)


def python_blocks(page: str) -> list:
    """``(pytest param)`` per ```python block of ``page``: id ``page:line``, skipped when marked no-run."""
    text = open(os.path.join(ROOT, page), encoding="utf-8").read()
    params = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code"))
        marks = [pytest.mark.skip(reason=match["reason"])] if match["reason"] else []
        params.append(pytest.param(match["code"], id=f"{page}:{line}", marks=marks))
    return params


BLOCKS = [block for page in PAGES for block in python_blocks(page)]


def test_blocks_are_found_and_few_are_skipped():
    assert len(BLOCKS) >= 10
    skipped = [b for b in BLOCKS if b.marks]
    assert len(skipped) <= len(BLOCKS) // 5, [b.id for b in skipped]
    for page in PAGES:  # every page is linked from the README
        if page != "README.md":
            assert page in open(os.path.join(ROOT, "README.md"), encoding="utf-8").read(), page


@pytest.mark.slow  # most blocks train the demo CNN for an epoch
@pytest.mark.parametrize("code", BLOCKS)
def test_python_block_runs(code, tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorflow")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    exec(compile(PREAMBLE, "<preamble>", "exec"), namespace)
    exec(compile(code, "<docs block>", "exec"), namespace)


def test_no_run_marker_only_skips_the_block_below_it():
    text = "<!-- no-run: needs a GPU -->\n```python\nraise SystemExit\n```\n\n```python\nx = 1\n```\n"
    found = [(m["reason"], m["code"]) for m in BLOCK.finditer(text)]
    assert found == [("needs a GPU", "raise SystemExit\n"), (None, "x = 1\n")]


@pytest.mark.slow  # imports every module, TensorFlow included
def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("pdoc", reason="needs the test extra: pip install '.[test]'")
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    try:
        import api_docs
    finally:
        sys.path.pop(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        modules = api_docs.build(str(tmp_path))
    from_pdoc = [str(w.message) for w in caught if os.sep + "pdoc" + os.sep in w.filename]
    assert from_pdoc == []
    for name in ("fmlogger", "fmlogger.logger", "fmlogger.callback", "fmlogger.notebook",
                 "fmlogger.render.renderer"):
        assert name in modules
        page = tmp_path / (name.replace(".", "/") + ".html")
        assert page.is_file(), page
    html = (tmp_path / "fmlogger" / "notebook.html").read_text()
    assert '<section id="show"' in html and '<section id="Evolution"' in html
    assert "One layer (or any image tag) of a run" in html  # the Evolution docstring made it in
