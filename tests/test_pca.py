"""PCA core on data with a known answer; PCA RGB; step-to-step alignment (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render.pca import (
    AlignedProjection,
    PCARGBRenderer,
    align_signs,
    pca,
    pca_rgb,
    procrustes,
    sign_convention,
)


def _orthonormal(rng, d, k):
    q, _ = np.linalg.qr(rng.normal(size=(d, k)))
    return q.T  # [k, d], orthonormal rows


def test_pca_finds_known_directions_and_variances(rng):
    basis = _orthonormal(rng, 10, 3)
    scores = rng.normal(size=(4000, 3)) * [3.0, 2.0, 1.0]
    x = scores @ basis + 5.0  # a shifted, exactly rank-3 cloud
    fit = pca(x, 3)
    # |cos| between found and true direction ~ 1 for each component, in variance order
    assert np.allclose(np.abs(np.sum(fit.components * basis, axis=1)), 1.0, atol=1e-3)
    assert np.allclose(fit.explained_variance, scores.var(axis=0, ddof=1), rtol=0.02)
    assert fit.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(fit.mean, x.mean(axis=0))


def test_pca_wide_data_path_matches_tall_path(rng):
    x = rng.normal(size=(30, 50))  # fewer rows than columns: SVD of the data itself
    fit = pca(x, 2)
    tall = pca(np.concatenate([x, x, x]), 2)  # same directions, via the scatter matrix
    assert np.allclose(np.abs(np.sum(fit.components * tall.components, axis=1)), 1.0, atol=1e-6)


@pytest.mark.parametrize("shape", [(400, 12), (30, 50)])  # tall: scatter-matrix path; wide: SVD path
def test_pca_matches_scikit_learn(shape):
    decomposition = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape) * np.linspace(3.0, 0.1, shape[1])  # distinct variances per feature
    ours = pca(x, 5)
    theirs = decomposition.PCA(n_components=5, svd_solver="full").fit(x)
    np.testing.assert_allclose(ours.mean, theirs.mean_, atol=1e-12)
    np.testing.assert_allclose(ours.explained_variance, theirs.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(ours.explained_variance_ratio, theirs.explained_variance_ratio_, rtol=1e-8)
    dots = np.sum(ours.components * theirs.components_, axis=1)
    np.testing.assert_allclose(np.abs(dots), 1.0, atol=1e-8)  # the same directions, up to sign
    signs = np.sign(dots)
    np.testing.assert_allclose(ours.components, signs[:, None] * theirs.components_, atol=1e-6)
    np.testing.assert_allclose(ours.transform(x), signs * theirs.transform(x), atol=1e-6)


def test_pca_pads_missing_components_and_survives_constant_data():
    fit = pca(np.ones((5, 2)), 3)
    assert fit.components.shape == (3, 2)
    assert np.all(fit.explained_variance_ratio == 0)


def test_sign_convention_and_align_signs():
    c = np.array([[0.1, -0.9], [0.8, 0.2]])
    fixed = sign_convention(c)
    assert fixed[0].tolist() == [-0.1, 0.9] and fixed[1].tolist() == [0.8, 0.2]
    previous = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert align_signs(fixed, previous).tolist() == [[0.1, -0.9], [0.8, 0.2]]


def test_procrustes_undoes_rotation_and_reflection(rng):
    a = rng.normal(size=(40, 2))
    theta = 0.7
    r = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ np.diag([1, -1])
    b = a @ r
    assert np.allclose(b @ procrustes(b, a), a - a.mean(0) + a.mean(0) @ np.eye(2), atol=1e-9)


def _three_pattern_maps(rng):
    """Activations [4, 12, 12, 16]: a vertical third of each image carries one channel pattern.

    Pattern k (orthonormal over 16 channels) appears with a random positive strength in stripe
    k, with variances that differ per stripe (strengths 3, 2, 1 times U[0.5, 1.5]).
    """
    patterns = _orthonormal(rng, 16, 3)
    strength = rng.uniform(0.5, 1.5, size=(4, 12, 12)) * np.repeat([3.0, 2.0, 1.0], 4)[None, None, :]
    stripe = np.repeat(np.arange(3), 4)  # column -> which pattern
    maps = strength[..., None] * patterns[stripe][None, None, :, :]
    return maps.astype(np.float32), patterns, stripe


def test_pca_rgb_recovers_three_known_patterns(rng):
    maps, patterns, stripe = _three_pattern_maps(rng)
    rgb, fit = pca_rgb(maps)
    assert rgb.shape == (4, 12, 12, 3) and rgb.dtype == np.uint8
    assert fit.explained_variance_ratio.sum() >= 0.99
    # The 3 components span exactly the 3 patterns: projecting the patterns on them keeps their norm.
    kept = np.linalg.norm(patterns @ fit.components.T, axis=1)
    assert np.allclose(kept, 1.0, atol=1e-4)
    # Colour tells the patterns apart: mean colour per stripe differs between stripes by a lot.
    colours = np.stack([rgb[:, :, stripe == k].reshape(-1, 3).mean(0) for k in range(3)])
    gaps = [np.abs(colours[i] - colours[j]).max() for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 60, colours
    # and is an affine function of the pattern strengths (R^2 ~ 1 per colour channel)
    coeff = np.einsum("nhwc,kc->nhwk", maps, patterns).reshape(-1, 3)
    design = np.concatenate([coeff, np.ones((len(coeff), 1))], axis=1)
    unclipped = fit.transform(maps.reshape(-1, 16))
    residual = unclipped - design @ np.linalg.lstsq(design, unclipped, rcond=None)[0]
    assert np.abs(residual).max() < 1e-3


def test_pca_rgb_colours_do_not_flip_between_steps(rng):
    maps, _, _ = _three_pattern_maps(rng)
    renderer = PCARGBRenderer(min_size=24)
    first, _ = renderer.render("conv", maps)
    again, _ = renderer.render("conv", maps * 1.0001)
    assert first.shape == (4, 24, 24, 3)  # 12 px upscaled x2
    assert np.abs(first.astype(int) - again.astype(int)).max() <= 1


def test_pca_rgb_channels_first_matches_channels_last(rng):
    maps, _, _ = _three_pattern_maps(rng)
    last, _ = PCARGBRenderer(min_size=1).render("a", maps)
    first, _ = PCARGBRenderer(min_size=1).render("a", maps.transpose(0, 3, 1, 2), "channels_first")
    assert np.array_equal(last, first)


def test_aligned_projection_of_unchanged_embedding_is_identical_across_steps(rng):
    x = rng.normal(size=(200, 8)) * np.linspace(3, 0.5, 8)
    view = AlignedProjection()
    steps = [view.project(x) for _ in range(3)]
    assert np.array_equal(steps[0], steps[1]) and np.array_equal(steps[1], steps[2])
    # A flipped / rotated copy of the features (PCA's sign is arbitrary) lands on the same points.
    q = _orthonormal(rng, 8, 8)
    assert np.allclose(view.project(-x @ q), steps[0], atol=1e-8)


def test_aligned_projection_follows_a_slowly_rotating_cloud(rng):
    base = rng.normal(size=(100, 2)) * [3.0, 1.0]
    view = AlignedProjection()
    first = view.align(base)
    rotated = base @ np.array([[0.0, 1.0], [-1.0, 0.0]])  # 90 degrees: no flip back to the original axes
    assert np.allclose(view.align(rotated), first, atol=1e-9)


def test_pca_rgb_is_upscaled_to_min_size_by_whole_pixels(rng):
    """PCA-RGB images are at least ``min_size`` (the logger passes ``min_tile_size``) on their longer side."""
    maps = rng.random((2, 3, 7, 5)).astype(np.float32)
    small, _ = PCARGBRenderer(min_size=1).render("a", maps)
    big, _ = PCARGBRenderer(min_size=32).render("a", maps)
    assert small.shape == (2, 3, 7, 3) and big.shape == (2, 15, 35, 3)  # ceil(32 / 7) = 5
    np.testing.assert_array_equal(big, small.repeat(5, axis=1).repeat(5, axis=2))
