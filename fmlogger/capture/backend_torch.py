"""The PyTorch adapter: eager calls (``torch.no_grad`` for capture), ``torch.autograd.grad``.

Nothing is compiled, so nothing is traced (``on_trace`` is never called) and batches of any
size cost the same. Inputs are moved to the model's device by ``keras.ops.convert_to_tensor``.

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

    name = "torch"
    fixed_shapes = False

    def compile(self, fn: Callable, model, example_args: tuple, *, on_trace: Callable, grad: bool = False):
        import keras

        def call(*args):
            args = keras.tree.map_structure(keras.ops.convert_to_tensor, args)
            with self.eager() if not grad else contextlib.nullcontext():
                return fn(*args)

        return call

    def value_and_grad(self, fn: Callable, argnums: tuple):
        import keras
        import torch

        def run(*args):
            args = list(args)
            for i in argnums:
                args[i] = keras.ops.convert_to_tensor(args[i]).detach().requires_grad_(True)
            with torch.enable_grad():
                total, aux = fn(*args)
                grads = torch.autograd.grad(total, [args[i] for i in argnums], allow_unused=True)
            return list(grads), keras.tree.map_structure(lambda t: t.detach(), aux)

        return run

    def scan(self, body: Callable, carry, xs):
        """A Python loop; each row of ``xs`` is passed as a list of Python numbers."""
        import keras

        ys = []
        for row in keras.ops.convert_to_numpy(xs).tolist():
            carry, y = body(carry, row)
            ys.append(y)
        return carry, keras.ops.stack(ys)

    def to_numpy(self, tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    def belongs(self, tensor) -> bool:
        return True

    def scope(self, model):
        return contextlib.nullcontext()

    def eager(self):
        import torch

        return torch.no_grad()
