"""The shipped colormap tables: against matplotlib when installed, and by checksum without it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from fmlogger.render.colormaps import COLORMAPS, lookup_table, nonfinite_color, pad_color

# sha256 of each (256, 3) uint8 table's bytes. A changed entry changes its checksum; the
# matplotlib test below says which entries are off.
CHECKSUMS = {
    "gray": "72432263dbfe17abc40ed269f24c7a344e077e3671007dfc8a2f3851f8193dc2",
    "viridis": "18545f7c72a02f02a54f2e3f6ff9dcf357e0190ab9117a1f8fae44c6eaf179e0",
    "magma": "f95197e8391d18e2c1db50f2a1ab8650ab7c2a9acb781704a8156872615f002b",
    "coolwarm": "c80051e617dce52a08a48401466162a2f4204b3d3d3f49378a021cd34a0ac364",
}


@pytest.mark.parametrize("name", COLORMAPS)
def test_table_checksums(name):
    table = lookup_table(name)
    assert table.shape == (256, 3) and table.dtype == np.uint8 and not table.flags.writeable
    assert hashlib.sha256(table.tobytes()).hexdigest() == CHECKSUMS[name]


def test_gray_is_the_identity():
    np.testing.assert_array_equal(lookup_table("gray"), np.repeat(np.arange(256)[:, None], 3, axis=1))


@pytest.mark.parametrize("name", ["viridis", "magma", "coolwarm"])
def test_tables_match_matplotlib_to_one_level(name):
    matplotlib = pytest.importorskip("matplotlib")
    # matplotlib's 256-entry map, entry i as round(255 * rgb)
    expected = np.round(matplotlib.colormaps[name](np.arange(256))[:, :3] * 255).astype(int)
    diff = np.abs(lookup_table(name).astype(int) - expected)
    off = np.flatnonzero(diff.max(axis=1) > 1)
    assert off.size == 0, f"{name} differs from matplotlib by more than 1 at entries {off}"


@pytest.mark.parametrize("name", COLORMAPS)
def test_marker_colours_are_used_by_no_entry(name):
    colours = {tuple(c) for c in lookup_table(name).tolist()}
    assert tuple(nonfinite_color(name)) not in colours
    assert tuple(pad_color(name)) not in colours or name == "gray"  # gray pads in white (255)
