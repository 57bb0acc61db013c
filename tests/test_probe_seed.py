"""Seeded probe draws (``probe_seed=``): the same samples in every run given the same data."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.capture.probe import as_probe


def test_seeded_draw_is_reproducible_and_in_data_order():
    x = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    y = np.arange(20)
    probe = as_probe((x, y), 5, seed=11)
    expected = np.sort(np.random.default_rng(11).choice(20, 5, replace=False))
    assert probe.y.tolist() == expected.tolist() and probe.seed == 11
    np.testing.assert_array_equal(probe.x, x[expected])
    assert as_probe((x, y), 5, seed=11).y.tolist() == expected.tolist()
    assert as_probe((x, y), 5, seed=12).y.tolist() != expected.tolist()


def test_without_seed_or_small_probe_the_first_samples_are_taken():
    x = np.arange(10)[:, None]
    assert as_probe(x, 4).x[:, 0].tolist() == [0, 1, 2, 3]
    small = as_probe(x[:3], 4, seed=5)
    assert small.x[:, 0].tolist() == [0, 1, 2]


def test_seeded_draw_keeps_multi_inputs_aligned():
    a, b = np.arange(30).reshape(15, 2), np.arange(15) * 10
    probe = as_probe({"a": a, "b": b}, 4, seed=0)
    np.testing.assert_array_equal(probe.x["a"][:, 0] * 5, probe.x["b"])
    probe = as_probe([a, b], 4, seed=0)
    np.testing.assert_array_equal(probe.x[0][:, 0] * 5, probe.x[1])


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed_names_the_argument(seed):
    with pytest.raises(
        ValueError, match=r"probe_seed must be a non-negative integer or None\. Received: probe_seed="
    ):
        as_probe(np.zeros((8, 2)), 4, seed=seed)
