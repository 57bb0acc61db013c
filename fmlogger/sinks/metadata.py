"""The Projector's ``metadata.tsv``: one row per point, escaped cells, a header only for 2+ columns.

Example:
    >>> metadata_tsv({"label": ["cat", "dog"]})
    'cat\\ndog\\n'
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def escape_label(value) -> str:
    """One metadata cell: tabs, newlines and carriage returns written as ``\\t``, ``\\n``, ``\\r``.

    A blank cell becomes ``(blank)``: the Projector skips blank lines, which would shift every
    later row of a one-column file.

    Example:
        >>> escape_label("a\\tb\\nc")
        'a\\\\tb\\\\nc'
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value.item() if isinstance(value, np.generic) else value)
    text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text if text.strip() else "(blank)"


def metadata_tsv(columns: Mapping[str, Sequence]) -> str:
    """The text of a ``metadata.tsv``: a header row exactly when there is more than one column.

    Args:
        columns: ``{column name: values}``, all of the same length, in column order.

    Example:
        >>> metadata_tsv({"label": [3, 7]})
        '3\\n7\\n'
        >>> metadata_tsv({"label": [3, 7], "predicted": [3, 1]})
        'label\\tpredicted\\n3\\t3\\n7\\t1\\n'
    """
    names = list(columns)
    if not names:
        raise ValueError("metadata needs at least one column.")
    lengths = {len(columns[name]) for name in names}
    if len(lengths) != 1:
        raise ValueError(f"metadata columns must have the same length. Received lengths {sorted(lengths)}")
    cells = [[escape_label(v) for v in columns[name]] for name in names]
    lines = ["\t".join(row) for row in zip(*cells)]
    if len(names) > 1:
        lines.insert(0, "\t".join(escape_label(name) for name in names))
    return "".join(line + "\n" for line in lines)
