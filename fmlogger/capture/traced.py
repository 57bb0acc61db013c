"""Capturing the chosen layers' outputs in one traced forward pass, and checking the probe.

Capture works by temporarily wrapping the chosen layers' ``call`` while the model runs
(``fmlogger.capture.hooks``), which reaches layers inside nested models and works whether or not
the model has a symbolic graph; the wrappers are removed as soon as the pass (or its one-time
trace) is done. A model with a graph (Functional, Sequential, nested ones) runs only the nodes
that lead to the chosen layers (``fmlogger.capture.subgraph``): the head after the deepest chosen
layer is neither traced nor run, and the default choice reads the layers' shapes from the graph
instead of running the model once more; models without one run whole.

Which layers: names, paths, globs and classes, resolved by ``fmlogger.capture.layers``.

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
model's ``tf.distribute`` scope. The pass is traced once (``Capture.trace_count``): a
``tf.function`` on TensorFlow, ``jax.jit`` on JAX (the weights are arguments, so training does
not retrace); PyTorch runs it eagerly under ``torch.no_grad`` (nothing traced: 0).

Example:
    >>> capture = Capture(model, ["conv*"], probe_x)      # doctest: +SKIP
    >>> {path: a.shape for path, a in capture(probe_x).items()}   # doctest: +SKIP
    {'conv1': (4, 30, 30, 16), 'conv2': (4, 13, 13, 32)}
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Callable

import numpy as np

from fmlogger.capture.backend import adapter
from fmlogger.capture.hooks import CallNames, first_tensor, hooked, output_shapes
from fmlogger.capture.layers import (
    DEFAULT_MAX_LAYERS,
    concatenates_channels,
    default_choice,
    iter_layers,
    layouts,
    select_layers,
    spread,
)
from fmlogger.capture.subgraph import Plan
from fmlogger.capture.subgraph import output_shapes as static_shapes

log = logging.getLogger("fmlogger")

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


class Capture:
    """One compiled forward pass returning the outputs of the chosen layers as float32 numpy.

    Traced once for the probe's input signature and reused: ``trace_count`` stays 1 over any
    number of calls with inputs of that signature (TensorFlow leaves the batch size free; JAX
    traces once per input shape; PyTorch is eager and traces nothing).

    Args:
        model: a built or unbuilt Keras model; ``example_inputs`` builds it if needed.
        layers: as in ``select_layers``.
        example_inputs: a batch shaped like what will be captured (the probe).
        max_layers: cap for the default layer choice.
        include_output: also return the model's own (first) output under ``Capture.OUTPUT``.
        cost: ``cost(shape, data_format)``, what drawing a layer (output ``shape``, batch 1) costs,
            with ``max_cost``: the default choice then keeps fewer layers, still spread over the
            model, while the chosen ones cost more than ``max_cost`` together (big models).
        max_cost: see ``cost``.
    """

    OUTPUT = "__model_output__"

    def __init__(
        self,
        model,
        layers,
        example_inputs,
        *,
        max_layers: int = DEFAULT_MAX_LAYERS,
        include_output: bool = False,
        cost: Callable[[tuple, str], float] | None = None,
        max_cost: float | None = None,
    ):
        from fmlogger.capture.probe import head, leaves

        self.adapter = adapter("capture layer outputs")
        self.model = model
        self.include_output = include_output
        self.trace_count = 0
        sample = head(example_inputs, 1)
        check_probe(model, example_inputs)
        with self.adapter.scope(model):
            shapes = None
            if not getattr(model, "built", True):
                # Builds an unbuilt model (subclassed, Sequential without Input) and checks that the
                # probe fits one that has no symbolic graph to compare with.
                shapes = _probe_call(model, sample, None if layers is None else [])
            if layers is None:  # every layer's shape: from the graph, else from a pass over them all
                shapes = shapes or static_shapes(model) or _probe_call(model, sample, None)
                first = {p.split("#")[0]: s for p, s in reversed(shapes.items())}
                if cost is not None and max_cost is not None:
                    max_layers = _within(model, first, max_layers, cost, max_cost)
                self.layers = select_layers(model, None, output_shapes=first, max_layers=max_layers)
                chosen = {path for path, _ in self.layers}
                self.shapes = {name: shape for name, shape in shapes.items() if name.split("#")[0] in chosen}
            else:
                self.layers = select_layers(model, layers, max_layers=max_layers)
                self.shapes = static_shapes(model, self.layers) or _probe_call(model, sample, self.layers)
            self.plan = Plan.build(model, self.layers, output=include_output)
        self.paths = list(self.shapes)
        self._batch = int(np.shape(leaves(example_inputs)[0])[0])
        formats = layouts(model)
        self.data_formats = {name: formats.get(name.split("#")[0], "channels_last") for name in self.paths}
        chosen = dict(self.layers)
        self.concatenations = {  # "index" order shows their last (new) channels
            name
            for name in self.paths
            if concatenates_channels(chosen[name.split("#")[0]], self.data_formats[name])
        }
        # A partial, not the bound method: TensorFlow counts traces per code object, so Captures
        # of many models (a hyperparameter search) would each trace once and still get warned about.
        trace = functools.partial(Capture._trace, self)
        self._forward = self.adapter.compile(trace, model, (example_inputs,), on_trace=self._traced)

    def _traced(self) -> None:
        self.trace_count += 1

    def _trace(self, inputs):
        import keras

        belongs = self.adapter.belongs
        outputs: dict[str, object] = {}
        names = CallNames()

        def record(path, output):
            tensor = first_tensor(output)
            if tensor is None or not belongs(tensor):
                return  # a build pass in Keras' scratch graph: not part of this function
            outputs[names(path)] = keras.ops.cast(tensor, "float32")

        with hooked(self.layers, record, model=self.model):
            result = self.model(inputs, training=False) if self.plan is None else self.plan.run(inputs)
        if self.include_output and first_tensor(result) is not None:
            outputs[self.OUTPUT] = keras.ops.cast(first_tensor(result), "float32")
        names = self.paths + ([self.OUTPUT] if self.OUTPUT in outputs else [])
        return {name: outputs[name] for name in names if name in outputs}

    def __call__(self, inputs) -> dict[str, np.ndarray]:
        """Runs the pass on ``inputs``; returns ``{layer path: float32 array}``.

        On JAX, which compiles per shape, a batch smaller than the first one is padded to it
        (its last sample repeated) and the padding cut off, so it does not retrace.
        """
        from fmlogger.capture.probe import leaves, map_inputs

        n = int(np.shape(leaves(inputs)[0])[0])
        pad = self._batch - n if self.adapter.fixed_shapes else 0
        if pad > 0:
            inputs = map_inputs(lambda a: np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]), inputs)
        to_numpy = self.adapter.to_numpy
        return {name: to_numpy(tensor)[:n] for name, tensor in self._forward(inputs).items()}


def _within(model, shapes: dict[str, tuple], max_layers: int, cost, max_cost: float) -> int:
    """The most layers (<= ``max_layers``) of the default choice, spread as ``select_layers``
    spreads them, whose summed ``cost`` stays within ``max_cost`` (at least 1)."""
    candidates = [path for path, _ in default_choice(model, list(iter_layers(model)), shapes)]
    formats = layouts(model)
    costs: dict[str, float] = {}
    for k in range(min(max_layers, len(candidates)), 1, -1):
        keep = spread(len(candidates), k)
        total = 0.0
        for path in (candidates[i] for i in keep):
            if path not in costs:
                costs[path] = cost(shapes[path], formats.get(path, "channels_last"))
            total += costs[path]
        if total <= max_cost:
            if k < min(max_layers, len(candidates)):
                log.warning(
                    "fmlogger: model '%s' is big: the default choice keeps %d layers (not %d) so one "
                    "step draws at most %.3g pixels. Pass layers=[...] or max_layers= to choose.",
                    _model_name(model), k, min(max_layers, len(candidates)), max_cost,
                )
            return k
    return 1


def _probe_call(model, sample, layers) -> dict[str, tuple]:
    """``output_shapes``, with a failure turned into a message about the probe."""
    try:
        return output_shapes(model, sample, layers)
    except Exception as err:  # noqa: BLE001 - re-raised with what the user can act on
        from fmlogger.capture.probe import leaves as probe_leaves

        leaves = probe_leaves(sample)
        shapes = ", ".join(_shape_text(np.shape(a)) for a in leaves)
        raise ValueError(
            f"probe does not fit model '{_model_name(model)}': calling the model on the probe "
            f"(shapes {shapes}, batch cut to 1) failed with {type(err).__name__}: {_clean(err)}"
        ) from err
