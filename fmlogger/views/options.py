"""The logger's option groups and their flat shortcuts, resolved and validated in one place.

``FeatureMapLogger`` takes its options as groups, ``render=RenderSettings(...)``,
``timeline=TimelineSettings(...)``, ``embeddings=EmbeddingSettings(...)``,
``explain=ExplainSettings(...)``, or as today's flat keywords, which are shortcuts for one field
of one group (``SHORTCUTS``; the table in ``FeatureMapLogger``'s docstring). A group built from
flat keywords names them in its errors; a flat keyword given with its group is an error unless
the group's field holds the same value.

Example:
    >>> from fmlogger.render.renderer import RenderSettings
    >>> options = resolve(shortcuts={"colormap": "viridis", "timeline_max_rows": 8})
    >>> options.render.colormap, options.timeline.max_rows, options.embeddings
    ('viridis', 8, None)
    >>> magma = RenderSettings(colormap="magma")
    >>> resolve(render=magma, shortcuts={"colormap": "viridis"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: colormap='viridis' conflicts with render=RenderSettings(..., colormap='magma', ...); set ...
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any

from fmlogger.explain.settings import ExplainSettings
from fmlogger.render.renderer import RenderSettings
from fmlogger.views.embeddings import EmbeddingSettings
from fmlogger.views.timelines import TimelineSettings

GROUPS: dict[str, type] = {
    "render": RenderSettings,
    "timeline": TimelineSettings,
    "embeddings": EmbeddingSettings,
    "explain": ExplainSettings,
}
"""Each option group: the ``FeatureMapLogger`` argument and its settings class."""

SHORTCUTS: dict[str, tuple[str, str]] = {
    **{field.name: ("render", field.name) for field in dataclasses.fields(RenderSettings)},
    "timeline_max_rows": ("timeline", "max_rows"),
    "timeline_max_channels": ("timeline", "max_channels"),
    "embedding_data": ("embeddings", "data"),
    "embedding_pooling": ("embeddings", "pooling"),
    "embedding_max_points": ("embeddings", "max_points"),
    "embedding_tsne": ("embeddings", "tsne"),
    "embedding_keep_last": ("embeddings", "keep_last"),
}
"""``{flat keyword: (group, field)}``: the one mapping the flat keywords are validated by."""


@dataclasses.dataclass(frozen=True)
class Options:
    """The resolved groups: ``render``; ``timeline`` and ``embeddings`` None when off; ``explain``."""

    render: RenderSettings
    timeline: TimelineSettings | None
    embeddings: EmbeddingSettings | None
    explain: ExplainSettings


def _same(a, b) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and the like: only the same object is the same
        return False


def _renamed(err: ValueError, flat: dict[str, str]) -> ValueError:
    """``err`` with each field name replaced by the flat keyword it was given as."""
    text = str(err)
    for field, keyword in flat.items():
        text = re.sub(rf"^{field}\b|\b{field}(?==)", keyword, text)
    return type(err)(text)


def _conflict_text(arg: str, group) -> str:
    """``render=RenderSettings(..., colormap='magma', ...)``: the group with its non-default fields."""
    fields = [
        f"{f.name}={getattr(group, f.name)!r}"
        for f in dataclasses.fields(group)
        if f.repr and not _same(getattr(group, f.name), f.default)
    ]
    return f"{arg}={type(group).__name__}({', '.join(['...', *fields, '...'] if fields else ['...'])})"


def _group(arg: str, given, flat: dict[str, Any], **fixed):
    """The settings of group ``arg``: ``given`` checked against the flat values, or built from them."""
    cls = GROUPS[arg]
    if isinstance(given, cls):
        for keyword, value in flat.items():
            field = SHORTCUTS[keyword][1]
            if not _same(getattr(given, field), value):
                raise ValueError(
                    f"{keyword}={value!r} conflicts with {_conflict_text(arg, given)}; "
                    f"set {field} in one of them."
                )
        return given
    names = {field: keyword for keyword, (group, field) in SHORTCUTS.items() if group == arg}
    try:
        return cls(**fixed, **{SHORTCUTS[keyword][1]: value for keyword, value in flat.items()})
    except ValueError as err:
        raise _renamed(err, {**names, **{k: arg for k in fixed}}) from None


def _check_type(arg: str, value, allowed: str, ok: bool) -> None:
    if not ok:
        raise ValueError(f"{arg} must be {allowed}. Received: {arg}={value!r} of type {type(value).__name__}")


def resolve(
    *, render=None, timeline=True, embeddings=None, explain=None, explain_settings=None, shortcuts=None
) -> Options:
    """Resolves the groups and flat keywords of ``FeatureMapLogger`` into ``Options``.

    Args:
        render: a ``RenderSettings`` or None.
        timeline: True/False, or a ``TimelineSettings`` (on).
        embeddings: None, layer specs (a list, name or class), or an ``EmbeddingSettings``.
        explain, explain_settings: an ``ExplainSettings`` or None (the same group, two names).
        shortcuts: the flat keywords given (``SHORTCUTS``).

    Raises:
        TypeError: for an unknown keyword (with the closest known ones).
        ValueError: for a bad value (naming the argument as given) or a flat keyword that
            contradicts its group.
    """
    shortcuts = dict(shortcuts or {})
    for keyword in shortcuts:
        if keyword not in SHORTCUTS:
            close = difflib.get_close_matches(keyword, [*SHORTCUTS, *GROUPS], n=3)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise TypeError(f"FeatureMapLogger got an unexpected keyword argument {keyword!r}.{hint}")
    flat = {arg: {k: v for k, v in shortcuts.items() if SHORTCUTS[k][0] == arg} for arg in GROUPS}
    for arg, value, cls in (
        ("render", render, RenderSettings),
        ("explain", explain, ExplainSettings),
        ("explain_settings", explain_settings, ExplainSettings),
    ):
        ok = value is None or isinstance(value, cls)
        _check_type(arg, value, f"an fmlogger.{cls.__name__} or None", ok)
    ok = isinstance(timeline, (bool, TimelineSettings))
    _check_type("timeline", timeline, "True, False or an fmlogger.TimelineSettings", ok)
    if explain is not None and explain_settings is not None and explain != explain_settings:
        raise ValueError(
            f"explain={explain!r} conflicts with explain_settings={explain_settings!r}; pass one of them."
        )
    timeline_settings = _group("timeline", timeline, flat["timeline"])
    if embeddings is not None or flat["embeddings"]:
        fixed = {} if isinstance(embeddings, EmbeddingSettings) else {"layers": embeddings}
        embedding_settings = _group("embeddings", embeddings, flat["embeddings"], **fixed)
    else:
        embedding_settings = None
    return Options(
        render=_group("render", render, flat["render"]),
        timeline=timeline_settings if timeline is not False else None,
        embeddings=embedding_settings,
        explain=explain or explain_settings or ExplainSettings(),
    )
