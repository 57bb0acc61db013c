"""Call hooks: a layer's ``call`` wrapped for one forward pass to see its output, then restored.

Wrapping ``call`` reaches layers inside nested models and works whether or not the model has a
symbolic graph, on every backend, eagerly and while a function is traced (``tf.function``,
``jax.jit``). Keras (TensorFlow) runs some build passes in a scratch graph: hooks that keep
tensors keep only those of the function being traced (``tapped``).

Example:
    >>> seen = []
    >>> conv1 = model.get_layer("conv1")                                     # doctest: +SKIP
    >>> with hooked([("conv1", conv1)], lambda path, out: seen.append(path)):  # doctest: +SKIP
    ...     model(x)
    >>> output_shapes(model, x[:1])                                          # doctest: +SKIP
    {'conv1': (1, 14, 14, 4), 'pool1': (1, 7, 7, 4), ...}
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

from fmlogger.capture.layers import iter_layers, recurrent_cells


def _sequence_of(path: str, rnn, record: Callable[[str, object], object]) -> Callable:
    """An ``inner_loop`` for ``rnn`` that passes its cell's outputs at every timestep, ``[n, t, c]``,
    to ``record(path, outputs)``; the RNN's own output is unchanged.

    The loop is run with ``return_sequences`` on, so that it keeps every timestep (Keras' loop
    keeps only the last one otherwise); ``call`` still returns the last output when it is off.
    """
    bound = rnn.inner_loop

    def inner_loop(*args, **kwargs):
        keep = rnn.return_sequences
        object.__setattr__(rnn, "return_sequences", True)
        try:
            last, outputs, states = bound(*args, **kwargs)
        finally:
            object.__setattr__(rnn, "return_sequences", keep)
        record(path, outputs)
        return last, outputs, states

    return inner_loop


@contextlib.contextmanager
def hooked(
    layers: Sequence[tuple[str, object]],
    record: Callable[[str, object], object],
    *,
    model=None,
) -> Iterator[None]:
    """Wraps each layer's ``call`` to pass its output to ``record(path, output)``; then restores.

    Args:
        layers: ``(path, layer)`` pairs, as ``select_layers`` returns them.
        record: called after every call of a wrapped layer with its path and its output; what
            it returns, unless None, replaces the output (``tapped`` adds a zero to take a
            gradient there).
        model: the model the layers belong to; given, a chosen RNN cell (``"lstm/lstm_cell"``,
            see ``recurrent_cells``) is recorded once per RNN call with its outputs at every
            timestep, ``[n, t, c]``, from the RNN's ``inner_loop`` (its calls per timestep run in
            a symbolic loop and cannot be kept), and ``record``'s return value is ignored there.
    """
    cells = recurrent_cells(model) if model is not None else {}
    saved = []
    try:
        for path, layer in layers:
            target, name = (cells[path], "inner_loop") if path in cells else (layer, "call")
            original = target.__dict__.get(name)
            if name == "inner_loop":
                wrapper = _sequence_of(path, target, record)
            else:
                bound = layer.call

                def wrapper(*args, __path=path, __bound=bound, **kwargs):
                    output = __bound(*args, **kwargs)
                    replaced = record(__path, output)
                    return output if replaced is None else replaced

            object.__setattr__(target, name, wrapper)
            saved.append((target, name, original))
        yield
    finally:
        for target, name, original in reversed(saved):
            if original is None:
                object.__delattr__(target, name)
            else:
                object.__setattr__(target, name, original)


def first_tensor(output):
    """The first tensor of a layer's (or model's) output structure, or None when it holds none."""
    import keras

    flat = keras.tree.flatten(output)
    return flat[0] if flat else None


@contextlib.contextmanager
def tapped(path: str, layer, *, add=None) -> Iterator[list]:
    """Yields a list that receives the first tensor of ``layer``'s first call in the traced function.

    Later calls (a shared layer) and calls in Keras' scratch build graphs are ignored. With
    ``add`` (a zero tensor shaped like that output), the layer's output becomes ``output + add``
    and that sum is kept: the gradient with respect to ``add`` is the gradient with respect to
    the layer's output, on every backend (``jax.grad`` differentiates only arguments).
    """
    import keras

    from fmlogger.capture.backend import adapter

    belongs = adapter().belongs
    seen: list = []

    def record(_path, output):
        tensor = first_tensor(output)
        if seen or tensor is None or not belongs(tensor):
            return None
        if add is None:
            seen.append(tensor)
            return None
        flat = keras.tree.flatten(output)
        flat[0] = tensor + keras.ops.cast(add, tensor.dtype)
        seen.append(flat[0])
        return keras.tree.pack_sequence_as(output, flat)

    with hooked([(path, layer)], record):
        yield seen


def call_name(path: str, index: int) -> str:
    """The name of a layer's ``index``-th call in one pass: ``path``, then ``path#1``, ``path#2``, ..."""
    return path if index == 0 else f"{path}#{index}"


class CallNames:
    """Names the successive calls of each path in one pass (``call_name``).

    Example:
        >>> names = CallNames()
        >>> [names("conv"), names("conv"), names("dense")]
        ['conv', 'conv#1', 'dense']
    """

    def __init__(self):
        self._counts: dict[str, int] = {}

    def __call__(self, path: str) -> str:
        index = self._counts.get(path, 0)
        self._counts[path] = index + 1
        return call_name(path, index)


def output_shapes(model, inputs, layers=None) -> dict[str, tuple]:
    """Runs ``model`` once eagerly on ``inputs`` and returns each layer call's output shape.

    Args:
        model: a Keras model (it is built by this call if it was not).
        inputs: a batch the model takes.
        layers: ``(path, layer)`` pairs to look at, or None for every layer.

    Returns:
        ``{call name: shape}`` (see ``call_name``), in call order.
    """
    every = list(iter_layers(model)) if layers is None else list(layers)
    shapes: dict[str, tuple] = {}
    names = CallNames()

    def record(path, output):
        tensor = first_tensor(output)
        name = names(path)
        if tensor is not None and hasattr(tensor, "shape"):
            shapes[name] = tuple(tensor.shape)

    from fmlogger.capture.backend import adapter

    with hooked(every, record, model=model), adapter("call the model").eager():
        model(inputs, training=False)
    return shapes
