"""metadata.tsv: escaping of cells, the header rule of the Projector, equal column lengths."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.sinks.metadata import escape_label, metadata_tsv


def test_escape_label():
    assert escape_label("a\tb") == "a\\tb"
    assert escape_label("line1\nline2\r") == "line1\\nline2\\r"
    assert escape_label(np.int64(7)) == "7"
    assert escape_label(b"cat") == "cat"
    assert escape_label("") == "(blank)" and escape_label("  ") == "(blank)"


def test_metadata_one_column_has_no_header():
    text = metadata_tsv({"label": [0, "a\tb", "x\ny"]})
    assert text == "0\na\\tb\nx\\ny\n"
    assert "\t" not in text  # the Projector reads a tab in line 1 as a header


def test_metadata_several_columns_have_exactly_one_header_row():
    text = metadata_tsv({"label": [1, 2], "pre\tdicted": [1, 0]})
    lines = text.splitlines()
    assert lines == ["label\tpre\\tdicted", "1\t1", "2\t0"]
    assert all(line.count("\t") == 1 for line in lines)


def test_metadata_columns_must_have_the_same_length():
    with pytest.raises(ValueError, match="same length"):
        metadata_tsv({"a": [1], "b": [1, 2]})
