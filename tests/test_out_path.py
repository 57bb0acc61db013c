"""``--out`` of ``fmlogger compare`` (one PNG file) and ``fmlogger export`` (a folder): refused with a
clear message before anything is written, and never written through a link or outside what was named."""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_compare import two_runs, write_run  # noqa: F401 - two_runs is a fixture

from fmlogger.cli.main import main
from fmlogger.runs.read import decode_png


def _listing(root) -> set:
    return {os.path.relpath(os.path.join(folder, name), root) for folder, _, names in os.walk(root)
            for name in names}


def _compare(root, out) -> int:
    return main(["compare", str(root / "a"), str(root / "b"), "--layer", "conv", "--out", out])


@pytest.mark.parametrize(
    "out, text",
    [
        ("{root}", "--out names a folder; name the PNG file to write"),
        ("{root}/a", "--out names a folder"),
        ("", "--out must name the PNG file to write"),
        ("  ", "--out must name the PNG file to write"),
        ("{root}/x\0.png", "--out must not contain a NUL character"),
        ("{root}/missing/diff.png", "does not exist (compare creates only the file)"),
        ("{root}/a_file/diff.png", "is not a folder"),
        ("{root}/a/feature_maps/fmlogger_state.json", "would write into the run folder"),
        ("gs://bucket/diff.png", "--out must be a local path"),
    ],
)
def test_compare_refuses_an_out_that_is_no_file_to_write(two_runs, capsys, out, text):  # noqa: F811
    root = two_runs[0]
    (root / "a_file").write_bytes(b"keep")
    before = {path: (root / path).read_bytes() for path in _listing(root)}
    out = out.format(root=root)
    assert _compare(root, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("fmlogger compare: ") and text in err and f"Received: --out={out!r}" in err
    assert "Traceback" not in err
    assert {path: (root / path).read_bytes() for path in _listing(root)} == before  # nothing written


def test_compare_writes_only_the_named_file_and_replaces_a_link_instead_of_following_it(two_runs):  # noqa: F811
    root = two_runs[0]
    victim = root / "victim.txt"
    victim.write_bytes(b"not to be overwritten")
    os.symlink(victim, root / "diff.png")
    before = _listing(root)
    assert _compare(root, str(root / "diff.png")) == 0
    assert victim.read_bytes() == b"not to be overwritten"
    assert not os.path.islink(root / "diff.png")
    image = decode_png((root / "diff.png").read_bytes())
    assert image.ndim == 3 and image.shape[1] > 2 * image.shape[0]  # A | B | diff side by side
    assert _listing(root) == before  # the same names: no folder or temporary file left


@pytest.mark.parametrize(
    "out, text",
    [
        ("{root}/a_file", "--out must be a folder; it is a file"),
        ("{root}/a_file/sub", "--out must be a folder; it lies under the file"),
        ("", "--out must name the output folder"),
        ("{root}/x\0y", "--out must not contain a NUL character"),
        ("s3://bucket/out", "--out must be a local path"),
    ],
)
def test_export_refuses_an_out_that_is_no_folder(tmp_path, capsys, out, text):
    write_run(tmp_path / "logs", 0, np.zeros((2, 3), np.float32), steps=1)
    (tmp_path / "a_file").write_bytes(b"keep")
    before = _listing(tmp_path)
    out = out.format(root=tmp_path)
    assert main(["export", "--logdir", str(tmp_path / "logs"), "--out", out, "--no-gif"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fmlogger export: ") and text in err and f"Received: --out={out!r}" in err
    assert _listing(tmp_path) == before and (tmp_path / "a_file").read_bytes() == b"keep"
