"""Finding the chosen layers and capturing their outputs in one traced forward pass.

Capture works by temporarily wrapping the chosen layers' ``call`` while the model runs, which
reaches layers inside nested models and works whether or not the model has a symbolic graph; the
wrappers are removed as soon as the pass (or its one-time trace) is done.

Which layers (``layers=[...]`` entries):
    * a name, ``"conv1"``: the outer model's layer of that name, or, when it has none, every
      nested layer of that name;
    * a path from the outer model down, ``"mobilenetv2_1.00_96/block_3_expand_relu"``; nested
      Functional, Sequential and subclassed models, and custom layers that hold layers (a residual
      block), are all walked; ``layer_paths(model)`` lists every path;
    * a glob, matched against the whole path, or against the name when it has no ``/``:
      ``"backbone/*relu"``, ``"conv*"``; ``*`` also crosses ``/``;
    * a layer class, ``keras.layers.Conv2D``: every layer of that class.

What is captured:
    * every call of a chosen layer in one forward pass: a layer called more than once (a shared
      layer, a backbone applied twice) yields ``path`` for its first call and ``path#1``,
      ``path#2``, ... for the later ones, in call order. A layer object placed in two nested
      models has one path (the first found) and all its calls are counted under it;
    * the first tensor of a layer's output, cast to float32 inside the pass (so float16 and
      bfloat16 activations of mixed precision render as float32 ones do);
    * on a probe of any input form the model takes: one array, a list in input order or a dict
      keyed by input name; integer (uint8) inputs and preprocessing layers (Rescaling, Resizing)
      run inside the pass as in training.

When: the model may be unbuilt when the callback is created (subclassed, Sequential without an
``Input``); layers are resolved, the probe checked and the pass traced when training starts, in the
model's ``tf.distribute`` scope. The pass is traced once (``Capture.trace_count``).

Example:
    >>> capture = Capture(model, ["conv*"], probe_x)      # doctest: +SKIP
    >>> {path: a.shape for path, a in capture(probe_x).items()}   # doctest: +SKIP
    {'conv1': (4, 30, 30, 16), 'conv2': (4, 13, 13, 32)}
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import functools
import logging
import re
from typing import Iterator, Sequence

import numpy as np

from fmlogger._tf import tensorflow

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
        "(fmlogger.capture.traced.layer_paths(model) lists them all)"
    )


def select_layers(
    model,
    layers=None,
    *,
    output_ranks: dict[str, int] | None = None,
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> list[tuple[str, object]]:
    """Resolves ``layers`` (names, paths, glob patterns, layer classes) to ``(path, layer)`` pairs.

    Args:
        model: a Keras model.
        layers: a name/path/pattern/class or a list of them; None picks every layer whose output
            is 4-D (needs ``output_ranks``), evenly spread over the model when more than
            ``max_layers``.
        output_ranks: rank of each path's output, for the default choice.
        max_layers: cap for the default choice.

    Raises:
        ValueError: when an entry matches no layer; the message lists the layers and suggests
            the nearest names.
    """
    every = list(iter_layers(model))
    paths = [p for p, _ in every]
    if layers is None:
        spatial = [(p, layer) for p, layer in every if (output_ranks or {}).get(p) == 4]
        if len(spatial) > max_layers:
            keep = np.unique(np.linspace(0, len(spatial) - 1, max_layers).round().astype(int))
            left_out = [p for i, (p, _) in enumerate(spatial) if i not in set(keep.tolist())]
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
    return sorted(chosen.items(), key=lambda item: order[item[0]])


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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _clean(error: BaseException) -> str:
    """The first meaningful line of a (Keras) error message, without terminal colour codes."""
    lines = [line.strip() for line in _ANSI.sub("", str(error)).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("Exception encountered when calling")]
    return (useful or lines or [type(error).__name__])[0]


def _model_name(model) -> str:
    return getattr(model, "name", type(model).__name__)


def _symbolic_inputs(model) -> list[tuple[str, object]] | None:
    """``[(name, KerasTensor)]`` of a model with a symbolic graph, or None (subclassed, unbuilt)."""
    try:
        inputs = model.inputs
    except Exception:  # noqa: BLE001 - subclassed or unbuilt models have none
        return None
    if not inputs:
        return None
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):
        return [(str(key), struct[key]) for key in struct]
    return [(str(getattr(t, "name", f"input_{i}")), t) for i, t in enumerate(inputs)]


def _shape_text(shape) -> str:
    dims = ["None" if d is None else str(int(d)) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def check_probe(model, inputs) -> None:
    """Checks that a probe batch fits a model with a symbolic graph: structure, ranks and sizes.

    Models without one (subclassed, not yet built) are checked by the first call instead (see
    ``Capture``). The batch dimension is free.

    Raises:
        ValueError: naming the input (by name and index), the shape the model expects and the
            shape the probe gives.
    """
    expected = _symbolic_inputs(model)
    if expected is None:
        return
    name = _model_name(model)
    listing = ", ".join(f"'{n}' {_shape_text(t.shape)}" for n, t in expected)
    if isinstance(inputs, dict):
        missing = [n for n, _ in expected if n not in inputs]
        if missing:
            raise ValueError(
                f"probe does not fit model '{name}': the probe dict has no entry for input(s) "
                f"{', '.join(repr(m) for m in missing)}. Received keys: {sorted(map(str, inputs))}. "
                f"The model's inputs: {listing}."
            )
        given = [(n, t, inputs[n]) for n, t in expected]
    else:
        leaves = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(leaves) != len(expected):
            raise ValueError(
                f"probe does not fit model '{name}': the model takes {len(expected)} input(s) ({listing}) "
                f"but the probe gives {len(leaves)} array(s) of shapes "
                f"{', '.join(_shape_text(np.shape(a)) for a in leaves)}. Pass a list (in input order) "
                "or a dict keyed by input name."
            )
        given = [(n, t, a) for (n, t), a in zip(expected, leaves)]
    for index, (input_name, tensor, array) in enumerate(given):
        want, got = tuple(tensor.shape), tuple(np.shape(array))
        fits = len(want) == len(got) and all(w is None or w == g for w, g in zip(want[1:], got[1:]))
        if not fits:
            raise ValueError(
                f"probe does not fit model '{name}': input '{input_name}' (input {index}) expects "
                f"shape {_shape_text(want)} but the probe gives {_shape_text(got)} (the first axis is "
                f"the batch and may differ). The model's inputs: {listing}."
            )


def _strategy_scope(model):
    """The model's ``tf.distribute`` scope for build passes, so variables are created mirrored."""
    tf = tensorflow()
    strategy = getattr(model, "distribute_strategy", None) if not tf.distribute.has_strategy() else None
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


@contextlib.contextmanager
def _hooked(layers: Sequence[tuple[str, object]], record) -> Iterator[None]:
    """Wraps each layer's ``call`` to pass its output to ``record(path, output)``; then restores."""
    saved = []
    try:
        for path, layer in layers:
            original = layer.__dict__.get("call")
            bound = layer.call

            def call(*args, __path=path, __bound=bound, **kwargs):
                output = __bound(*args, **kwargs)
                record(__path, output)
                return output

            object.__setattr__(layer, "call", call)
            saved.append((layer, original))
        yield
    finally:
        for layer, original in reversed(saved):
            if original is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", original)


def _first_tensor(output):
    tf = tensorflow()
    flat = tf.nest.flatten(output)
    return flat[0] if flat else None


def _call_name(path: str, index: int) -> str:
    return path if index == 0 else f"{path}#{index}"


def output_shapes(model, inputs, layers=None) -> dict[str, tuple]:
    """Runs ``model`` once eagerly on ``inputs`` and returns each layer call's output shape."""
    every = list(iter_layers(model)) if layers is None else list(layers)
    shapes: dict[str, tuple] = {}
    counts: dict[str, int] = {}

    def record(path, output):
        tensor = _first_tensor(output)
        index = counts.get(path, 0)
        counts[path] = index + 1
        if tensor is not None and hasattr(tensor, "shape"):
            shapes[_call_name(path, index)] = tuple(tensor.shape)

    with _hooked(every, record):
        model(inputs, training=False)
    return shapes


class Capture:
    """One compiled forward pass returning the outputs of the chosen layers as float32 numpy.

    Traced once for the probe's input signature (batch size free) and reused: ``trace_count``
    stays 1 over any number of calls with inputs of that signature.

    Args:
        model: a built or unbuilt Keras model; ``example_inputs`` builds it if needed.
        layers: as in ``select_layers``.
        example_inputs: a batch shaped like what will be captured (the probe).
        max_layers: cap for the default layer choice.
        include_output: also return the model's own (first) output under ``Capture.OUTPUT``.
    """

    OUTPUT = "__model_output__"

    def __init__(
        self, model, layers, example_inputs, *, max_layers: int = DEFAULT_MAX_LAYERS, include_output: bool = False
    ):
        tf = tensorflow()
        self.model = model
        self.include_output = include_output
        self.trace_count = 0
        sample = tf.nest.map_structure(lambda a: a[:1], example_inputs)
        check_probe(model, example_inputs)
        with _strategy_scope(model):
            if not getattr(model, "built", True) or layers is None:
                # Builds an unbuilt model (subclassed, Sequential without Input) and checks that the
                # probe fits one that has no symbolic graph to compare with.
                shapes = _probe_call(model, sample, None if layers is None else [])
            if layers is None:  # the pass over every layer also gave the chosen ones' shapes
                ranks = {p.split("#")[0]: len(s) for p, s in shapes.items()}
                self.layers = select_layers(model, None, output_ranks=ranks, max_layers=max_layers)
                chosen = {path for path, _ in self.layers}
                self.shapes = {name: shape for name, shape in shapes.items() if name.split("#")[0] in chosen}
            else:
                self.layers = select_layers(model, layers, max_layers=max_layers)
                self.shapes = _probe_call(model, sample, self.layers)
        self.paths = list(self.shapes)
        self.data_formats = {
            name: getattr(dict(self.layers)[name.split("#")[0]], "data_format", None) or "channels_last"
            for name in self.paths
        }
        signature = tf.nest.map_structure(
            lambda a: tf.TensorSpec((None,) + tuple(np.shape(a))[1:], tf.as_dtype(_dtype_of(a))),
            example_inputs,
        )
        # A partial, not the bound method: TensorFlow counts traces per code object, so Captures
        # of many models (a hyperparameter search) would each trace once and still get warned about.
        trace = functools.partial(Capture._trace, self)
        self._forward = tf.function(trace, input_signature=[signature], autograph=False)

    def _trace(self, inputs):
        tf = tensorflow()
        self.trace_count += 1
        graph = tf.compat.v1.get_default_graph()
        outputs: dict[str, object] = {}
        counts: dict[str, int] = {}

        def record(path, output):
            tensor = _first_tensor(output)
            if tensor is None or getattr(tensor, "graph", None) is not graph:
                return  # a build pass in Keras' scratch graph: not part of this function
            index = counts.get(path, 0)
            counts[path] = index + 1
            outputs[_call_name(path, index)] = tf.cast(tensor, tf.float32)

        with _hooked(self.layers, record):
            result = self.model(inputs, training=False)
        if self.include_output and _first_tensor(result) is not None:
            outputs[self.OUTPUT] = tf.cast(_first_tensor(result), tf.float32)
        names = self.paths + ([self.OUTPUT] if self.OUTPUT in outputs else [])
        return {name: outputs[name] for name in names if name in outputs}

    def __call__(self, inputs) -> dict[str, np.ndarray]:
        """Runs the pass on ``inputs``; returns ``{layer path: float32 array}``."""
        # np.asarray shares the finished tensor's host buffer (Tensor.numpy() copies it again).
        return {name: np.asarray(tensor) for name, tensor in self._forward(inputs).items()}


def _probe_call(model, sample, layers) -> dict[str, tuple]:
    """``output_shapes``, with a failure turned into a message about the probe."""
    try:
        return output_shapes(model, sample, layers)
    except Exception as err:  # noqa: BLE001 - re-raised with what the user can act on
        leaves = tensorflow().nest.flatten(sample)
        shapes = ", ".join(_shape_text(np.shape(a)) for a in leaves)
        raise ValueError(
            f"probe does not fit model '{_model_name(model)}': calling the model on the probe "
            f"(shapes {shapes}, batch cut to 1) failed with {type(err).__name__}: {_clean(err)}"
        ) from err


def _dtype_of(array):
    dtype = getattr(array, "dtype", None)
    return dtype if dtype is not None else np.asarray(array).dtype
