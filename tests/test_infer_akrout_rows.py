"""Akrout's batch kernel on every pair (``dense_rows``) runs over contiguous rows: the same
numbers, bit for bit, as the pair loop through the CSR index, and as the module docstring's
update written out here with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from wi.infer.akrout import KernelParams, akrout_batch_kernel


def batch(seed, k, n_pre, n_post):
    rng = np.random.default_rng(seed)
    c_in = rng.poisson(3.0, (k, n_pre)).astype(float)
    c_out = rng.poisson(5.0, (k, n_post)).astype(float)
    lrs = rng.uniform(1e-3, 1e-2, k)
    w = rng.normal(0, 0.5, n_pre * n_post)
    v = rng.normal(0, 0.1, n_pre * n_post)
    indptr = np.arange(n_pre + 1, dtype=np.int64) * n_post
    post_index = np.tile(np.arange(n_post, dtype=np.int32), n_pre)
    return c_in, c_out, lrs, w, v, indptr, post_index


def numpy_reference(kp: KernelParams, w, v, c_in, c_out, lrs):
    """u_s = lr_s ((c_out_s - base_out) outer (c_in_s - base_in) - decay W); v = m v + (1 - m) u;
    W += v, clipped: on the (n_pre, n_post) matrix of pair order."""
    n_pre, n_post = c_in.shape[1], c_out.shape[1]
    W, V = w.reshape(n_pre, n_post).copy(), v.reshape(n_pre, n_post).copy()
    d_in = c_in - c_in.mean(axis=0)
    d_out = c_out - c_out.mean(axis=0)
    for s in range(len(lrs)):
        u = lrs[s] * (np.outer(d_in[s], d_out[s]) - kp.decay * W)
        V = kp.momentum * V + (1.0 - kp.momentum) * u
        W = W + V
        if kp.do_clip:
            W = np.clip(W, kp.lo, kp.hi)
    return W.ravel(), V.ravel()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("momentum,clip", [(0.0, False), (0.7, False), (0.3, True)])
def test_dense_rows_equal_the_pair_loop_and_the_numpy_update(seed, momentum, clip):
    k, n_pre, n_post = 13, 17, 11
    c_in, c_out, lrs, w0, v0, indptr, post_index = batch(seed, k, n_pre, n_post)
    kp = KernelParams(0.2, momentum, clip, -0.4, 0.6)
    w_pairs, v_pairs = w0.copy(), v0.copy()
    akrout_batch_kernel(kp, w_pairs, v_pairs, c_in, c_out, lrs, indptr, post_index)
    w_rows, v_rows = w0.copy(), v0.copy()
    akrout_batch_kernel(
        kp._replace(dense_rows=True), w_rows, v_rows, c_in, c_out, lrs, indptr, post_index
    )
    np.testing.assert_array_equal(w_rows, w_pairs)
    np.testing.assert_array_equal(v_rows, v_pairs)
    w_ref, v_ref = numpy_reference(kp, w0, v0, c_in, c_out, lrs)
    assert np.abs(w_ref - w0).max() > 1e-2  # the batch moved the estimate
    np.testing.assert_allclose(w_rows, w_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(v_rows, v_ref, rtol=1e-12, atol=1e-13)
    if clip:
        assert w_rows.min() >= -0.4 and w_rows.max() <= 0.6
        assert (w_rows == 0.6).any() or (w_rows == -0.4).any()  # clipping happened


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("dense_rows", [False, True])
def test_without_momentum_no_velocity_array_is_needed(seed, dense_rows):
    """momentum 0: an empty velocity gives the same estimate as a velocity array."""
    c_in, c_out, lrs, w0, v0, indptr, post_index = batch(seed, 9, 13, 8)
    kp = KernelParams(0.2, 0.0, False, 0.0, 0.0, dense_rows)
    w_full, w_none = w0.copy(), w0.copy()
    akrout_batch_kernel(kp, w_full, v0.copy(), c_in, c_out, lrs, indptr, post_index)
    akrout_batch_kernel(kp, w_none, np.zeros(0), c_in, c_out, lrs, indptr, post_index)
    np.testing.assert_array_equal(w_none, w_full)
    assert np.abs(w_none - w0).max() > 1e-2


def test_an_akrout_estimator_holds_a_velocity_only_with_momentum():
    from wi.infer.akrout import Akrout
    from wi.infer.params import AkroutParams

    guess = np.zeros((3, 4))
    plain = Akrout(AkroutParams(stimulus_ms=10.0)).start(4, 3, 0.25, guess)
    ema = Akrout(AkroutParams(stimulus_ms=10.0, momentum=0.5)).start(4, 3, 0.25, guess)
    assert plain.state.velocity.size == 0 and ema.state.velocity.size == 12
