"""Running only the part of a model's graph that the chosen layers need.

A model with a symbolic graph (Functional, Sequential with an input, and such models nested in
one another) is run node by node as Keras' ``Functional.call`` runs it, in the same order and
with ``training=False``, but only the nodes that lead to a chosen layer's calls (and to the
model's first output when it is asked for): layers after the deepest chosen one, and branches
that feed none of them, are neither traced nor run. A nested model holding a chosen layer is
entered and run the same way, so ``backbone/block_1_relu`` costs the backbone up to that layer.

What stays a plain call (its chosen sublayers seen by the call hooks, ``fmlogger.capture.hooks``):
a layer without a graph that holds chosen layers (a custom block, a subclassed model), a nested
model that is itself chosen, one called with extra arguments (a mask), and any model whose class
overrides ``call``. Models without a graph (subclassed, unbuilt) get no plan: they run whole.

Because the calls come in the full pass' order, the layers' calls are named as before
(``path``, ``path#1``, ...), and the names and output shapes are known without running anything
(``output_shapes``) unless a chosen layer is called inside a layer without a graph.

Example:
    >>> plan = Plan.build(model, [("backbone/conv1", conv1)])     # doctest: +SKIP
    >>> with hooked([("backbone/conv1", conv1)], record):         # doctest: +SKIP
    ...     plan.run(x)
    >>> output_shapes(model, [("backbone/conv1", conv1)])         # doctest: +SKIP
    {'backbone/conv1': (1, 96, 96, 16)}
"""

from __future__ import annotations

from typing import Sequence

from fmlogger.capture.hooks import CallNames
from fmlogger.capture.layers import iter_layers


def graph_of(model):
    """The ``Functional`` whose nodes ``model.call`` runs, or None (no graph, or its own ``call``)."""
    try:
        from keras.src.models.functional import Functional
        from keras.src.models.sequential import Sequential
    except ImportError:  # another Keras layout: every model runs whole
        return None
    if isinstance(model, Sequential):
        return getattr(model, "_functional", None) if type(model).call is Sequential.call else None
    if isinstance(model, Functional) and type(model).call is Functional.call:
        return model
    return None


def _order(graph) -> list:
    """The graph's operation nodes in the order ``Functional.call`` runs them."""
    by_depth = graph._nodes_by_depth
    nodes = [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
    return [node for node in nodes if node.operation is not None and not node.is_input]


class _Targets:
    """The chosen layers (by object id) and which layers hold one of them (cached per layer)."""

    def __init__(self, layers: Sequence[tuple[str, object]]):
        self.ids = {id(layer) for _, layer in layers}
        self._holds: dict[int, bool] = {}

    def holds(self, op) -> bool:
        if id(op) not in self._holds:
            self._holds[id(op)] = any(id(layer) in self.ids for _, layer in iter_layers(op))
        return self._holds[id(op)]


class Plan:
    """The nodes of one graph to run, in order; a nested model's node may hold its own ``Plan``.

    Build with ``Plan.build``; ``run`` executes it (inside the traced function).
    """

    def __init__(self, graph, steps: list, wanted: list[int]):
        self.graph = graph
        self.steps = steps  # [(node, Plan of the nested model's graph, or None: call the operation)]
        self.wanted = wanted  # indices of the graph's outputs computed

    @classmethod
    def build(cls, model, layers: Sequence[tuple[str, object]], *, output: bool = False) -> Plan | None:
        """The plan reaching every call of ``layers`` in ``model`` (and its first output if
        ``output``), or None when ``model`` has no graph."""
        graph = graph_of(model)
        return None if graph is None else cls._of(graph, _Targets(layers), [0] if output else [])

    @classmethod
    def _of(cls, graph, targets: _Targets, wanted: list[int]) -> Plan:
        needed = {id(graph.outputs[i]) for i in wanted}
        steps = []
        for node in reversed(_order(graph)):  # consumers before producers
            op = node.operation
            outputs = [i for i, x in enumerate(node.outputs) if id(x) in needed]
            holds = targets.holds(op)
            if not (outputs or holds or id(op) in targets.ids):
                continue
            inner = graph_of(op) if holds and id(op) not in targets.ids else None
            args, kwargs = node.arguments.args, node.arguments.kwargs
            extra = any(value is not None for key, value in kwargs.items() if key != "training")  # a mask
            plain = inner is None or len(args) != 1 or extra
            steps.append((node, None if plain else cls._of(inner, targets, outputs)))
            needed.update(id(x) for x in node.input_tensors)
        return cls(graph, steps[::-1], wanted)

    def run(self, inputs) -> list:
        """Runs the plan on the model's inputs (as the model takes them) with ``training=False``;
        returns the graph's flat outputs, None for those not computed."""
        return self._run(self.graph._standardize_inputs(inputs))

    def _run(self, flat_inputs) -> list:
        import keras

        values = {id(x): y for x, y in zip(self.graph.inputs, flat_inputs)}
        for node, inner in self.steps:
            args, kwargs = node.arguments.fill_in(values)
            if inner is not None:
                outputs = inner._run(inner.graph._standardize_inputs(args[0]))
            else:
                op = node.operation
                if "training" in getattr(op, "_call_context_args", ()):
                    kwargs["training"] = False  # as Functional.call(training=False) passes it
                outputs = keras.tree.flatten(op(*args, **kwargs))
            values.update((id(x), y) for x, y in zip(node.outputs, outputs) if y is not None)
        return [values.get(id(x)) for x in self.graph.outputs]

    def _calls(self, paths: dict[int, str], targets: _Targets) -> list[tuple[str, tuple]] | None:
        """``(path, static shape)`` of each chosen layer call, in call order; None if one is hidden."""
        calls: list[tuple[str, tuple]] = []
        for node, inner in self.steps:
            op = node.operation
            if inner is None and targets.holds(op):
                graph = graph_of(op)
                if graph is None:  # called inside a layer without a graph: only a run shows it
                    return None
                inner = Plan._of(graph, targets, list(range(len(graph.outputs))))
            if inner is not None:
                deeper = inner._calls(paths, targets)
                if deeper is None:
                    return None
                calls += deeper
            if id(op) in paths and node.outputs:
                calls.append((paths[id(op)], tuple(node.outputs[0].shape)))
        return calls


def output_shapes(model, layers: Sequence[tuple[str, object]] | None = None) -> dict[str, tuple] | None:
    """``{call name: shape}`` of ``layers``' calls (None: every layer) from the graph, without a run.

    As ``fmlogger.capture.hooks.output_shapes`` on a batch of 1, in call order; None when
    ``model`` has no graph, a chosen layer is called inside a layer that has none, or a shape
    other than the batch size is unknown (a model taking any image size).
    """
    every = list(iter_layers(model)) if layers is None else list(layers)
    plan = Plan.build(model, every)
    if plan is None:
        return None
    calls = plan._calls({id(layer): path for path, layer in every}, _Targets(every))
    if calls is None or any(d is None for _, shape in calls for d in shape[1:]):
        return None
    names = CallNames()
    return {names(path): (1,) + shape[1:] for path, shape in calls}
