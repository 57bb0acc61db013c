"""The JAX adapter: ``jax.jit`` with the model's variables as arguments, ``jax.value_and_grad``.

A Keras variable read inside ``jax.jit`` would be baked in as a constant of the trace (stale
weights after the next training step). So the compiled function takes every variable's value as
an argument and runs the model in a ``keras.StatelessScope`` that maps each variable to it: one
trace per input shape, new weights at every call. During ``fit`` Keras keeps the newest weights
outside the model (``jax_state_sync`` puts them back); each call syncs first.

Example:
    >>> ad = Adapter()                                                # doctest: +SKIP
    >>> f = ad.compile(lambda x: model(x), model, (x,), on_trace=print)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np


class Adapter:
    """See ``fmlogger.capture.backend``."""

    name = "jax"
    fixed_shapes = True

    def compile(self, fn: Callable, model, example_args: tuple, *, on_trace: Callable, grad: bool = False):
        import jax
        import keras

        variables = list(model.variables)

        def traced(values, *args):
            on_trace()
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        jitted = jax.jit(traced)

        def call(*args):
            sync = getattr(model, "jax_state_sync", None)
            if sync is not None:
                sync()
            return jitted([v.value for v in variables], *args)

        return call

    def value_and_grad(self, fn: Callable, argnums: tuple):
        import jax

        return jax.grad(fn, argnums=tuple(argnums), has_aux=True)

    def scan(self, body: Callable, carry, xs):
        import jax

        return jax.lax.scan(body, carry, xs)

    def to_numpy(self, tensor) -> np.ndarray:
        return np.asarray(tensor)

    def belongs(self, tensor) -> bool:
        return True

    def scope(self, model):
        return contextlib.nullcontext()

    def eager(self):
        return contextlib.nullcontext()
