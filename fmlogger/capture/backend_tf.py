"""The TensorFlow adapter: ``tf.function`` traced once with the first axis free, ``GradientTape``.

Example:
    >>> ad = Adapter()                                                # doctest: +SKIP
    >>> f = ad.compile(lambda x: x * 2, model, (np.zeros((1, 3)),))   # doctest: +SKIP
    >>> ad.to_numpy(f(np.ones((5, 3)))).shape                         # doctest: +SKIP
    (5, 3)
"""

from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np

from fmlogger._tf import tensorflow


def _spec(array):
    tf = tensorflow()
    shape = tuple(np.shape(array))
    dtype = getattr(array, "dtype", None)
    dtype = tf.as_dtype(dtype if dtype is not None else np.asarray(array).dtype)
    return tf.TensorSpec((None,) + shape[1:] if shape else (), dtype)


class Adapter:
    """See ``fmlogger.capture.backend``."""

    name = "tensorflow"
    fixed_shapes = False

    def compile(self, fn: Callable, model, example_args: tuple, *, on_trace: Callable, grad: bool = False):
        import keras

        tf = tensorflow()

        def traced(*args):
            on_trace()
            return fn(*args)

        signature = [keras.tree.map_structure(_spec, a) for a in example_args]
        return tf.function(traced, input_signature=signature, autograph=False)

    def value_and_grad(self, fn: Callable, argnums: tuple):
        tf = tensorflow()

        def run(*args):
            with tf.GradientTape() as tape:
                for i in argnums:
                    tape.watch(args[i])
                total, aux = fn(*args)
            return tape.gradient(total, [args[i] for i in argnums]), aux

        return run

    def scan(self, body: Callable, carry, xs):
        tf = tensorflow()
        n = tf.shape(xs)[0]
        ys = tf.TensorArray(tf.float32, size=n, element_shape=tf.TensorShape(None))

        def step(i, carry, ys):
            carry, y = body(carry, xs[i])
            return i + 1, carry, ys.write(i, y)

        _, carry, ys = tf.while_loop(lambda i, *_: i < n, step, (tf.constant(0), carry, ys))
        return carry, ys.stack()

    def to_numpy(self, tensor) -> np.ndarray:
        # np.asarray shares the finished tensor's host buffer (Tensor.numpy() copies it again).
        return np.asarray(tensor)

    def belongs(self, tensor) -> bool:
        """Keras builds some layers in a scratch graph: keep only tensors of the traced function."""
        return getattr(tensor, "graph", None) is tensorflow().compat.v1.get_default_graph()

    def scope(self, model):
        """The model's ``tf.distribute`` scope for build passes, so variables are created mirrored."""
        tf = tensorflow()
        strategy = getattr(model, "distribute_strategy", None) if not tf.distribute.has_strategy() else None
        return strategy.scope() if strategy is not None else contextlib.nullcontext()

    def eager(self):
        return contextlib.nullcontext()
