"""Which layers: every layer path of a model, and ``layers=[...]`` entries resolved to layers.

Entries of ``layers=[...]``:
    * a name, ``"conv1"``: the outer model's layer of that name, or, when it has none, every
      nested layer of that name;
    * a path from the outer model down, ``"mobilenetv2_1.00_96/block_3_expand_relu"``; nested
      Functional, Sequential and subclassed models, and custom layers that hold layers (a residual
      block), are all walked; ``layer_paths(model)`` lists every path;
    * a glob, matched against the whole path, or against the name when it has no ``/``:
      ``"backbone/*relu"``, ``"conv*"``; ``*`` also crosses ``/``;
    * a layer class, ``keras.layers.Conv2D``: every layer of that class.

Nothing here calls the model or imports a backend: layers are found by walking ``.layers`` (and
the layers a custom layer tracks).

Example:
    >>> check_layer_specs(["conv*", "backbone/relu"])      # the form only; names are resolved later
    >>> select_layers(model, ["conv*"])                     # doctest: +SKIP
    [('conv1', <Conv2D name=conv1>), ('conv2', <Conv2D name=conv2>)]
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
from typing import Iterator, Sequence

from fmlogger._arrays import spread

log = logging.getLogger("fmlogger")

DEFAULT_MAX_LAYERS = 16


def _sublayers(layer) -> list:
    """The direct children of a nested model or of a custom layer that holds layers.

    Models (Functional, Sequential, subclassed) list them in ``.layers``; a custom
    ``keras.layers.Layer`` that creates layers in ``__init__`` (a residual block, say) tracks them
    too, so ``"model/block/conv"`` reaches inside it.
    """
    children = getattr(layer, "layers", None)
    if not isinstance(children, (list, tuple)):
        flatten = getattr(layer, "_flatten_layers", None)
        try:
            children = list(flatten(include_self=False, recursive=False)) if flatten else []
        except TypeError:  # not a Keras 3 layer
            children = []
    return [child for child in children if type(child).__name__ != "InputLayer" and hasattr(child, "call")]


def iter_layers(model, prefix: str = "", _seen: set | None = None) -> Iterator[tuple[str, object]]:
    """Yields ``(path, layer)`` for every layer of ``model``, depth first, nested models included.

    A layer object reachable along several paths (the same layer placed in two nested models)
    is yielded once, under the first path found; its calls from everywhere are recorded under
    that path as ``path``, ``path#1``, ...

    Example:
        >>> [path for path, _ in iter_layers(model)]        # doctest: +SKIP
        ['backbone', 'backbone/conv1', 'backbone/conv1_relu', 'gap', 'head']
    """
    seen = set() if _seen is None else _seen
    for layer in _sublayers(model):
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        path = f"{prefix}{layer.name}"
        yield path, layer
        yield from iter_layers(layer, prefix=path + "/", _seen=seen)


def layer_paths(model) -> list[str]:
    """Every path that ``layers=[...]`` can name in ``model``, in depth-first order.

    Example:
        >>> layer_paths(model)[:3]                          # doctest: +SKIP
        ['mobilenetv2_0.35_96', 'mobilenetv2_0.35_96/Conv1', 'mobilenetv2_0.35_96/bn_Conv1']
    """
    return [path for path, _ in iter_layers(model)]


_CHANNEL_AXIS_LAYERS = ("BatchNormalization", "GroupNormalization")


def layouts(model) -> dict[str, str]:
    """``{path: "channels_first" | "channels_last"}``: the layout of each layer's output.

    A layer with a ``data_format`` (convolutions, pooling, Flatten) sets the layout; a
    BatchNormalization or GroupNormalization with ``axis=1`` marks channels_first; any other layer
    (Activation, Dropout, Add, a custom layer) inherits the layout of the nearest layer before it,
    and a nested model takes the layout of its last layer.

    Example:
        >>> layouts(model)                                  # doctest: +SKIP
        {'conv': 'channels_first', 'bn': 'channels_first', 'relu': 'channels_first'}
    """
    out: dict[str, str] = {}
    current = "channels_last"
    for path, layer in iter_layers(model):
        fmt = getattr(layer, "data_format", None)
        axis = getattr(layer, "axis", None)
        if fmt in ("channels_first", "channels_last"):
            current = fmt
        elif type(layer).__name__ in _CHANNEL_AXIS_LAYERS and axis in (1, [1], (1,)):
            current = "channels_first"
        out[path] = current
    for path in reversed(list(out)):  # a nested model: its last layer's layout (children come after it)
        last = next((p for p in reversed(list(out)) if p.startswith(path + "/")), None)
        if last is not None:
            out[path] = out[last]
    return out


def recurrent_cells(model) -> dict[str, object]:
    """``{cell path: RNN layer}`` for every cell that an RNN layer steps through time.

    A cell (``"lstm/lstm_cell"``) runs once per timestep inside the RNN's loop, which TensorFlow
    and JAX trace symbolically: its calls cannot be captured one by one, so its whole output
    sequence is taken from the RNN's ``inner_loop`` (``fmlogger.capture.hooks.hooked``).

    Example:
        >>> recurrent_cells(model)                          # doctest: +SKIP
        {'lstm/lstm_cell': <LSTM name=lstm>, 'bidirectional/forward_gru/gru_cell': <GRU ...>}
    """
    every = list(iter_layers(model))
    path_of = {id(layer): path for path, layer in every}
    return {
        path_of[id(layer.cell)]: layer
        for _, layer in every
        if callable(getattr(layer, "inner_loop", None)) and id(getattr(layer, "cell", None)) in path_of
    }


def check_not_stepped(model, chosen: Sequence[tuple[str, object]], layers=None) -> None:
    """Refuses layers that run inside a recurrent cell (the cells of ``StackedRNNCells``, layers a
    custom cell holds): they run once per timestep in a symbolic loop and cannot be captured.
    ``layers`` is what the user passed, echoed in the message.

    Raises:
        ValueError: naming the layer and the RNN layer (with ``return_sequences=True``) or cell
            to choose instead.
    """
    cells = recurrent_cells(model)
    for path, _ in chosen:
        cell = next((c for c in cells if path.startswith(c + "/")), None)
        if cell is not None:
            rnn = cell.rsplit("/", 1)[0]
            raise ValueError(
                f"layers: '{path}' runs once per timestep inside the recurrent cell '{cell}' (a "
                "symbolic loop), so its outputs cannot be captured. Choose the cell "
                f"'{cell}' (all timesteps, drawn as [n, t, c]) or the RNN layer '{rnn}' with "
                f"return_sequences=True. Received: layers={layers!r}"
            )


def concatenates_channels(layer, data_format: str) -> bool:
    """Whether ``layer`` is a Concatenate along the channel axis (a DenseNet block appends its new
    channels last)."""
    if type(layer).__name__ != "Concatenate":
        return False
    return getattr(layer, "axis", None) in ((1, -3) if data_format == "channels_first" else (-1, 3))


def _matches(spec, path: str, layer) -> bool:
    if isinstance(spec, type):
        return isinstance(layer, spec)
    name = path.rsplit("/", 1)[-1]
    if any(ch in spec for ch in "*?["):
        return fnmatch.fnmatchcase(path, spec) or ("/" not in spec and fnmatch.fnmatchcase(name, spec))
    return spec == path


def _unknown_layer_message(spec, model, paths: Sequence[str]) -> str:
    model_name = getattr(model, "name", type(model).__name__)
    if isinstance(spec, type):
        return (
            f"layers=[{spec.__name__}] matches no layer of model '{model_name}'. "
            f"Layers: {_listing(paths)}."
        )
    if "/" in str(spec):  # a path: suggest paths
        names = list(paths)
    else:  # a name: suggest names, then the paths of nested layers with that name
        names = list(dict.fromkeys([p.rsplit("/", 1)[-1] for p in paths] + list(paths)))
    close = difflib.get_close_matches(str(spec), names, n=3, cutoff=0.5)
    close = [_path_of(c, paths) for c in close]
    hint = f" Did you mean {' or '.join(repr(c) for c in dict.fromkeys(close))}?" if close else ""
    kind = "pattern" if any(ch in str(spec) for ch in "*?[") else ("path" if "/" in str(spec) else "name")
    return (
        f"layers=[{spec!r}] ({kind}) matches no layer of model '{model_name}'.{hint} "
        f"Layers: {_listing(paths)}."
    )


def _path_of(name: str, paths: Sequence[str]) -> str:
    """The full path of a suggested leaf name when it lives inside a nested model."""
    if name in paths:
        return name
    return next((p for p in paths if p.rsplit("/", 1)[-1] == name), name)


MAX_LISTED = 60


def _listing(paths: Sequence[str]) -> str:
    if len(paths) <= MAX_LISTED:
        return ", ".join(paths)
    return (
        f"{', '.join(paths[:MAX_LISTED])}, ... and {len(paths) - MAX_LISTED} more "
        "(fmlogger.capture.layer_paths(model) lists them all)"
    )


# Layers that pass their input through at inference: their maps would repeat the previous layer's.
IDENTITY_AT_INFERENCE = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity",
})


def _is_identity(layer) -> bool:
    return any(cls.__name__ in IDENTITY_AT_INFERENCE for cls in type(layer).__mro__)


def _output_is_last_layers(layer) -> bool:
    """A nested Functional or Sequential model whose one output is its last layer's output."""
    children = _sublayers(layer)
    try:
        outputs = layer.outputs
        return bool(children) and len(outputs) == 1 and outputs[0] is children[-1].output
    except Exception:  # noqa: BLE001 - subclassed, unbuilt, or a layer called more than once
        return False


def default_choice(model, every, shapes: dict[str, tuple]) -> list[tuple[str, object]]:
    """The layers with 4-D outputs worth drawing (see ``select_layers``)."""
    formats = layouts(model)

    def worth(path, layer) -> bool:
        shape = shapes.get(path)
        if shape is None or len(shape) != 4 or _is_identity(layer) or _output_is_last_layers(layer):
            return False
        size = shape[2:] if formats.get(path) == "channels_first" else shape[1:3]
        return any(d != 1 for d in size)

    return [(p, layer) for p, layer in every if worth(p, layer)]


def select_layers(
    model,
    layers=None,
    *,
    output_shapes: dict[str, tuple] | None = None,
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> list[tuple[str, object]]:
    """Resolves ``layers`` (names, paths, glob patterns, layer classes) to ``(path, layer)`` pairs.

    Args:
        model: a Keras model.
        layers: a name/path/pattern/class or a list of them; None picks every layer whose output
            is 4-D (needs ``output_shapes``), evenly spread over the model when more than
            ``max_layers``, leaving out 1x1 maps (squeeze-and-excitation), layers that are the
            identity at inference (Dropout, GaussianNoise, ...) and a nested model whose output
            is its last layer's (that layer is logged).
        output_shapes: shape of each path's output, for the default choice.
        max_layers: cap for the default choice.

    Raises:
        ValueError: when an entry matches no layer (the message lists the layers and suggests
            the nearest names), or a layer that runs inside a recurrent cell (``check_not_stepped``).
    """
    every = list(iter_layers(model))
    paths = [p for p, _ in every]
    if layers is None:
        spatial = default_choice(model, every, output_shapes or {})
        if len(spatial) > max_layers:
            keep = spread(len(spatial), max_layers)
            left_out = [p for i, (p, _) in enumerate(spatial) if i not in set(keep)]
            spatial = [spatial[i] for i in keep]
            log.warning(
                "fmlogger: %d layers have 4-D outputs; logging %d spread over the model. Left out: %s. "
                "Pass layers=[...] to choose.",
                len(spatial) + len(left_out), len(spatial), ", ".join(left_out),
            )
        return spatial
    specs = [layers] if isinstance(layers, (str, type)) else list(layers)
    chosen: dict[str, object] = {}
    for spec in specs:
        if not isinstance(spec, (str, type)):
            raise ValueError(
                "layers entries must be layer names, paths ('outer/inner'), glob patterns "
                f"('conv*') or layer classes. Received: {spec!r} of type {type(spec).__name__}"
            )
        hits = [(p, layer) for p, layer in every if _matches(spec, p, layer)]
        if not hits and isinstance(spec, str) and "/" not in spec:
            hits = [(p, layer) for p, layer in every if p.rsplit("/", 1)[-1] == spec]
        if not hits:
            raise ValueError(_unknown_layer_message(spec, model, paths))
        chosen.update(hits)
    order = {p: i for i, p in enumerate(paths)}
    resolved = sorted(chosen.items(), key=lambda item: order[item[0]])
    check_not_stepped(model, resolved, layers)
    return resolved


def check_layer_specs(layers, *, allow_empty: bool = False) -> None:
    """Checks the form of ``layers`` before any model is seen (names are resolved at train begin).

    ``allow_empty``: ``layers=[]`` is fine (no feature maps) because something else is logged.

    Raises:
        ValueError: for an entry that is not a non-empty string or a layer class, or an empty list
            when nothing else is logged.
    """
    if layers is None or isinstance(layers, type):
        return
    if isinstance(layers, str):
        layers = [layers]
    try:
        specs = list(layers)
    except TypeError:
        raise ValueError(
            "layers must be a layer name, path ('outer/inner'), glob pattern ('conv*'), layer class, "
            f"a list of them, or None. Received: layers={layers!r}"
        ) from None
    if not specs and not allow_empty:
        raise ValueError(
            "layers must name at least one layer, or be None for the default choice (layers=[] is "
            "allowed only with saliency=, gradcam=, activation_max= or embeddings=). Received: layers=[]"
        )
    for spec in specs:
        if isinstance(spec, type) or (isinstance(spec, str) and spec.strip()):
            continue
        raise ValueError(
            "layers entries must be layer names, paths ('outer/inner'), glob patterns ('conv*') or "
            f"layer classes. Received: {spec!r} of type {type(spec).__name__} in layers={layers!r}"
        )
