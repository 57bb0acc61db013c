"""Finding the chosen layers and capturing their outputs in one traced forward pass.

Capture works by temporarily wrapping the chosen layers' ``call`` while the model runs, which
reaches layers inside nested models and works whether or not the model has a symbolic graph; the
wrappers are removed as soon as the pass (or its one-time trace) is done.

Layer paths name nested layers from the outer model down: ``"backbone/block1_conv"``. A layer
called more than once per forward pass (a shared layer) yields ``path`` for its first call and
``path#1``, ``path#2``, ... for the later ones.

Example:
    >>> capture = Capture(model, ["conv*"], probe_x)      # doctest: +SKIP
    >>> {path: a.shape for path, a in capture(probe_x).items()}   # doctest: +SKIP
    {'conv1': (4, 30, 30, 16), 'conv2': (4, 13, 13, 32)}
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import logging
from typing import Iterator, Sequence

import numpy as np

from fmlogger._tf import tensorflow

log = logging.getLogger("fmlogger")

DEFAULT_MAX_LAYERS = 16


def _sublayers(layer) -> list:
    """The direct children of a nested model (Functional, Sequential or subclassed)."""
    children = getattr(layer, "layers", None)
    if not isinstance(children, (list, tuple)):
        return []
    return [child for child in children if type(child).__name__ != "InputLayer"]


def iter_layers(model, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Yields ``(path, layer)`` for every layer of ``model``, depth first, nested models included."""
    for layer in _sublayers(model):
        path = f"{prefix}{layer.name}"
        yield path, layer
        yield from iter_layers(layer, prefix=path + "/")


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
            f"Layers: {', '.join(paths)}."
        )
    names = list(paths) + [p.rsplit("/", 1)[-1] for p in paths]
    close = difflib.get_close_matches(str(spec), names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    kind = "pattern" if any(ch in str(spec) for ch in "*?[") else "name"
    return (
        f"layers=[{spec!r}] ({kind}) matches no layer of model '{model_name}'.{hint} "
        f"Layers: {', '.join(paths)}."
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
    """

    def __init__(self, model, layers, example_inputs, *, max_layers: int = DEFAULT_MAX_LAYERS):
        tf = tensorflow()
        self.model = model
        self.trace_count = 0
        sample = tf.nest.map_structure(lambda a: a[:1], example_inputs)
        if layers is None:
            shapes = output_shapes(model, sample)
            ranks = {p.split("#")[0]: len(s) for p, s in shapes.items()}
            self.layers = select_layers(model, None, output_ranks=ranks, max_layers=max_layers)
        else:
            self.layers = select_layers(model, layers, max_layers=max_layers)
        self.shapes = output_shapes(model, sample, self.layers)
        self.paths = list(self.shapes)
        self.data_formats = {
            name: getattr(dict(self.layers)[name.split("#")[0]], "data_format", None) or "channels_last"
            for name in self.paths
        }
        signature = tf.nest.map_structure(
            lambda a: tf.TensorSpec((None,) + tuple(np.shape(a))[1:], tf.as_dtype(_dtype_of(a))),
            example_inputs,
        )
        self._forward = tf.function(self._trace, input_signature=[signature], autograph=False)

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
            self.model(inputs, training=False)
        return {name: outputs[name] for name in self.paths if name in outputs}

    def __call__(self, inputs) -> dict[str, np.ndarray]:
        """Runs the pass on ``inputs``; returns ``{layer path: float32 array}``."""
        # np.asarray shares the finished tensor's host buffer (Tensor.numpy() copies it again).
        return {name: np.asarray(tensor) for name, tensor in self._forward(inputs).items()}


def _dtype_of(array):
    dtype = getattr(array, "dtype", None)
    return dtype if dtype is not None else np.asarray(array).dtype
