"""Poisson GLM couplings from streamed sufficient statistics (polynomial approximation).

Model
-----
Time is cut into bins of ``S = floor(bin_ms / dt)`` steps (bin b covers the steps
``[b S, (b + 1) S)``; ``dt = timestep_ms``). The features of bin b are the pre neurons'
PSP-filtered spike trains at the bin's first step,

    x_jb = sum_{pre spikes s of j, s < b S} k((b S - s) dt),
    k(t) = (exp(-t / tau_slow) - exp(-t / tau_fast)) / (tau_slow - tau_fast)   (1/ms, unit area)

(the simulator's PSP kernel, :mod:`wi.sim.synapse`; time constants: the params'
``tau_slow_ms`` / ``tau_fast_ms`` when set, else the projection's synapse time constants from
the protocol facts, else, for a recording without them, :data:`DEFAULT_TAU_SLOW_MS` /
:data:`DEFAULT_TAU_FAST_MS` = 10 / 3 ms: the kernel is the model's basis for the coupling's time
course, not a fact it must know), so only the pre spikes of earlier bins enter: the model is
causal. With ``z_b = (1, x_1b, ..., x_nb)`` (intercept first), the spike count ``y_ib`` of
post neuron i in bin b is modelled as

    y_ib ~ Poisson(exp(u_ib)),   u_ib = beta_i . z_b = beta_i0 + sum_j w_ij x_jb

and the estimate of the pair (pre j, post i) is the signed coupling ``w_ij`` (log-rate change
per unit of PSP integral; > 0 excitatory, < 0 inhibitory). Every post neuron is regressed on
every pre neuron (a multivariate GLM: Stevenson et al. 2008, 2009; Kobayashi et al. 2019 fit
such couplings with a slow baseline), whatever pairs are learnt, so a pair's estimate does not
depend on which other pairs are in the pair set.

Polynomial-approximate sufficient statistics (Zoltowski & Pillow 2018)
--------------------------------------------------------------------
The log-likelihood ``L_i = sum_b [y_ib u_ib - exp(u_ib)]`` needs every bin. Approximating
``exp(u)`` by a quadratic ``c0 + c1 u + c2 u^2`` makes it a function of

    G = sum_b z_b z_b^T        ((n_pre + 1)^2, shared by every post neuron)
    r_i = sum_b y_ib z_b       ((n_pre + 1,) per post neuron; r_i0 = its spike count)

alone: ``L_i ~ beta_i . r_i - c1_i beta_i . G e_0 - c2_i beta_i^T G beta_i`` (``G e_0 =
sum_b z_b``). The quadratic is that of Chebyshev interpolation of exp at the three Chebyshev
nodes of ``[u0_i - h, u0_i + h]`` (``h = interval``), centred on the post neuron's log mean
count per bin ``u0_i = log(r_i0 / n_bins)``:

    exp(u) ~ e^u0 (1 + a1 v + a2 v^2),  v = u - u0,  c = h sqrt(3) / 2,
    a1 = sinh(c) / c,  a2 = (cosh(c) - 1) / c^2       (a1 = 1, a2 = 1/2 at h = 0: Taylor)

so ``c2_i = a2 e^u0``. With the ridge penalty ``lambda c2_i |w_i|^2`` on the couplings (a
Gaussian prior whose precision grows with the rate, as the Poisson Fisher information does),
``lambda = ridge * mean(diag G_xx)``, setting the gradient to zero gives, since
``(G + lambda D) e_0 = G e_0`` (``D = diag(0, 1, ..., 1)``),

    (G + lambda D) beta~_i = r_i,      w_i = beta~_i[1:] / (2 a2 exp(u0_i))

one Cholesky factorisation of ``G + lambda D`` shared by all post neurons (a compiled,
single-threaded one: :func:`cholesky_upper`), then two triangular solves per post neuron. The
couplings are the ridge least-squares coefficients of ``y_i`` on ``z`` divided by ``2 a2``
times the mean count: for Gaussian features that is the
maximum-likelihood GLM coupling exactly at h = 0 (Stein's lemma: ``Cov(exp(w.x), x) = Cov(x) w
E[exp(w.x)]``); ``interval > 0`` only rescales every coupling by ``1 / (2 a2)``. No Newton /
IRLS refinement is made: it would need the data again (the statistics of the quadratic are
all that is kept).

A pair keeps its initial guess until its post neuron has a spike in a completed bin and its
pre neuron's PSP has entered a completed bin's features (``G_jj > 0``).

Streaming (exact, chunk invariant)
----------------------------------
Two exponential states per pre neuron hold ``x`` at the start of the current bin; the spikes
of the current bin are added, already decayed to the bin's end, to two pending arrays
(a spike at offset o in its bin adds ``jump exp(-(S - o) dt / tau)``, from a table). A bin is
closed when the stream reaches a later step (an event of a later bin or the end of a chunk at
or past its last step): ``G += z z^T`` (upper triangle), ``r_i += y_i z`` for the post neurons
that spiked, then ``state = state exp(-S dt / tau) + pending``. Bins are closed in order with
the same arithmetic whatever the chunk boundaries: bit-identical for any chunking. A last bin
cut by the end of the data is never used.

Cost and memory
---------------
Per bin ``(n_pre + 1)(n_pre + 2) / 2`` multiply-adds (the paper protocol, 100 pre neurons, 1 ms
bins: about 10^9 for 200 s), per post spike ``n_pre``. Memory: ``G`` ((n_pre + 1)^2 float64),
``r`` (one row per post neuron of the pair set), four (n_pre,) arrays: nothing grows with the
duration. ``n_pre`` is limited to :data:`MAX_PRE` (``G`` 8 MB, about 5 x 10^5 multiply-adds
per bin) and ``n_rows (n_pre + 1)`` to :data:`MAX_CROSS` (200 MB); larger projections are
refused at start (use ``ccg`` or ``stdwi``, linear in the pairs). Each check costs one
factorisation, ``(n_pre + 1)^3 / 3``, and ``2 n_rows (n_pre + 1)^2`` for the solves. Measured
(shared 2-core machine): the paper protocol (100 -> 10, 200 s, 200 checks) 0.5 s; an 800 -> 800
recurrent projection over 20 s of data (20 checks) about 10 s.

References
----------
Stevenson, I. H., Rebesco, J. M., Miller, L. E. & Kording, K. P. (2008). Inferring functional
connections between neurons. Current Opinion in Neurobiology 18(6), 582-588.
https://doi.org/10.1016/j.conb.2008.11.005

Stevenson, I. H., Rebesco, J. M., Hatsopoulos, N. G., Haga, Z., Miller, L. E. & Kording, K. P.
(2009). Bayesian inference of functional connectivity and network structure from spikes.
IEEE Transactions on Neural Systems and Rehabilitation Engineering 17(3), 203-213.
https://doi.org/10.1109/TNSRE.2008.2010471

Kobayashi, R., Kurita, S., Kurth, A., Kitano, K., Mizuseki, K., Diesmann, M., Richmond, B. J.
& Shinomoto, S. (2019). Reconstructing neuronal circuitry from parallel spike trains. Nature
Communications 10, 4468. https://doi.org/10.1038/s41467-019-12225-2

Zoltowski, D. M. & Pillow, J. W. (2018). Scaling the Poisson GLM to massive neural datasets
through polynomial approximations. Advances in Neural Information Processing Systems 31
(NeurIPS 2018). https://proceedings.neurips.cc/paper/2018/hash/a5e0ff62be0b08456fc7f1e88812af3d-Abstract.html
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from wi.chunk import Chunk
from wi.errors import UserError
from wi.infer.base import Estimator, register
from wi.infer.params import GLMParams

#: Largest number of pre neurons (G is (n_pre + 1)^2 float64: 8 MB).
MAX_PRE = 1000
#: Largest number of (post neurons learnt) x (n_pre + 1) statistics r (float64: 200 MB).
MAX_CROSS = 25_000_000
#: The features' PSP time constants (ms) when neither the params nor the protocol facts give
#: them (a recording): a fast excitatory PSP, the numbers of the presets' ``synapse`` section.
DEFAULT_TAU_SLOW_MS, DEFAULT_TAU_FAST_MS = 10.0, 3.0
#: Tolerance of ``floor(bin_ms / dt)`` (a bin of exactly k steps in ms is k steps).
_EPS = 1e-9


class KernelParams(NamedTuple):
    """Constants of :func:`glm_kernel`.

    bin_steps : int, S (steps per bin).
    decay_slow, decay_fast : float, ``exp(-S dt / tau)`` (one bin).
    add_slow, add_fast : ndarray (S,), ``jump exp(-(S - o) dt / tau)`` for a spike at offset o.
    """

    bin_steps: int
    decay_slow: float
    decay_fast: float
    add_slow: np.ndarray
    add_fast: np.ndarray


class State(NamedTuple):
    """Sufficient statistics and filter states (module docstring).

    gram : (n_pre + 1, n_pre + 1) float64, G (upper triangle; intercept first).
    cross : (n_rows, n_pre + 1) float64, r_i of each post neuron kept (row ``row_of[i]``).
    row_of : (n_post,) int64, the row of post neuron i in ``cross`` (-1: not learnt).
    slow, fast : (n_pre,) float64, the two exponential states at the start of the current bin.
    pend_slow, pend_fast : (n_pre,) float64, the current bin's spikes decayed to its end.
    counts : (n_rows,) int64, post spikes in the current bin.
    x : (n_pre + 1,) float64, work array (the features of the bin being closed).
    bins : (2,) int64, the current bin index and the number of closed bins.
    """

    gram: np.ndarray
    cross: np.ndarray
    row_of: np.ndarray
    slow: np.ndarray
    fast: np.ndarray
    pend_slow: np.ndarray
    pend_fast: np.ndarray
    counts: np.ndarray
    x: np.ndarray
    bins: np.ndarray


def kernel_params(bin_ms: float, tau_slow_ms: float, tau_fast_ms: float, dt: float):
    """:class:`KernelParams` of a bin of ``bin_ms`` (ms) on steps of ``dt`` ms."""
    steps = int(math.floor(bin_ms / dt + _EPS))
    if steps < 1:
        raise UserError(
            f"glm: bin_ms {bin_ms:g} is shorter than one time step ({dt:g} ms)",
            key="infer.methods.glm.bin_ms",
        )
    jump = 1.0 / (tau_slow_ms - tau_fast_ms)
    lag = (steps - np.arange(steps)) * dt  # ms from a spike at offset o to the bin's end
    return KernelParams(
        steps,
        math.exp(-steps * dt / tau_slow_ms),
        math.exp(-steps * dt / tau_fast_ms),
        jump * np.exp(-lag / tau_slow_ms),
        jump * np.exp(-lag / tau_fast_ms),
    )


@njit(cache=True)
def _close_bin(kp, st):
    """Add the current bin to G and r, then move the filter states to the next bin."""
    n = len(st.slow)
    x = st.x
    x[0] = 1.0
    for j in range(n):
        x[j + 1] = st.slow[j] - st.fast[j]
    g = st.gram
    for a in range(n + 1):
        xa = x[a]
        if xa != 0.0:
            for b in range(a, n + 1):
                g[a, b] += xa * x[b]
    for r in range(len(st.counts)):
        y = st.counts[r]
        if y > 0:
            for a in range(n + 1):
                st.cross[r, a] += y * x[a]
            st.counts[r] = 0
    for j in range(n):
        st.slow[j] = st.slow[j] * kp.decay_slow + st.pend_slow[j]
        st.fast[j] = st.fast[j] * kp.decay_fast + st.pend_fast[j]
        st.pend_slow[j] = 0.0
        st.pend_fast[j] = 0.0
    st.bins[0] += 1
    st.bins[1] += 1


@njit(cache=True)
def glm_kernel(kp, st, in_steps, in_neurons, out_steps, out_neurons, stop_step):
    """Accumulate the events of one chunk (state arrays updated in place).

    Parameters
    ----------
    kp : KernelParams
        Bin length (steps) and filter constants.
    st : State
        Statistics and filter states.
    in_steps, in_neurons : ndarray of int64, shape (n_in_events,)
        Pre spike steps (sorted) and neurons (in ``[0, n_pre)``).
    out_steps, out_neurons : ndarray of int64, shape (n_out_events,)
        Post spike steps (sorted) and neurons (in ``[0, n_post)``).
    stop_step : int
        First step after the chunk: every bin ending at or before it is closed.
    """
    s_bin = kp.bin_steps
    a, b = 0, 0
    n_in, n_out = len(in_steps), len(out_steps)
    while a < n_in or b < n_out:
        t = in_steps[a] if a < n_in else out_steps[b]
        if b < n_out and out_steps[b] < t:
            t = out_steps[b]
        k = t // s_bin
        while st.bins[0] < k:
            _close_bin(kp, st)
        off = t - k * s_bin
        while a < n_in and in_steps[a] == t:
            j = in_neurons[a]
            st.pend_slow[j] += kp.add_slow[off]
            st.pend_fast[j] += kp.add_fast[off]
            a += 1
        while b < n_out and out_steps[b] == t:
            r = st.row_of[out_neurons[b]]
            if r >= 0:
                st.counts[r] += 1
            b += 1
    while (st.bins[0] + 1) * s_bin <= stop_step:
        _close_bin(kp, st)


@njit(cache=True)
def cholesky_upper(a, ridge):
    """The upper Cholesky factor U (``U^T U = A``) of ``A = G + ridge D`` with G given by its
    upper triangle ``a`` (not modified) and ``D = diag(0, 1, ..., 1)``: the outer-product
    (right-looking) algorithm, whose inner loops update independent elements (they vectorise
    without reordering any sum; single-threaded, so deterministic).

    Returns
    -------
    u : ndarray, shape of ``a``
        Upper triangular (zeros below the diagonal).
    ok : bool
        False when a pivot is not positive (A not positive definite).
    """
    m = a.shape[0]
    u = np.zeros_like(a)
    for r in range(m):
        for c in range(r, m):
            u[r, c] = a[r, c]
        if r > 0:
            u[r, r] += ridge
    for k in range(m):
        d = u[k, k]
        if not d > 0.0:
            return u, False
        d = math.sqrt(d)
        u[k, k] = d
        for c in range(k + 1, m):
            u[k, c] /= d
        for r in range(k + 1, m):
            f = u[k, r]
            if f != 0.0:
                for c in range(r, m):
                    u[r, c] -= f * u[k, c]
    return u, True


@njit(cache=True)
def _solve_rows(upper, cross, out):
    """``out[r] = (U^T U)^-1 cross[r]`` for each row r: forward then back substitution in
    column (axpy) form, whose inner loops update independent elements. Every row is computed
    alone, with the same arithmetic whichever rows are solved."""
    m = upper.shape[0]
    lower = np.ascontiguousarray(upper.T)  # lower[a, c] = U[c, a]
    for r in range(cross.shape[0]):
        v = out[r]
        for a in range(m):
            v[a] = cross[r, a]
        for a in range(m):  # U^T y = cross[r]
            v[a] /= upper[a, a]
            y = v[a]
            for c in range(a + 1, m):
                v[c] -= upper[a, c] * y
        for a in range(m - 1, -1, -1):  # U v = y
            v[a] /= upper[a, a]
            y = v[a]
            for c in range(a):
                v[c] -= lower[a, c] * y


def quadratic_a2(interval: float) -> float:
    """``a2`` of the Chebyshev quadratic of exp on ``[-h, h]`` (module docstring): ``(cosh c -
    1) / c^2``, ``c = h sqrt(3) / 2``; 1/2 at h = 0 (the Taylor limit)."""
    c = interval * math.sqrt(3.0) / 2.0
    if c < 1e-4:
        return 0.5 + c * c / 24.0
    return (math.cosh(c) - 1.0) / (c * c)


@register
class GLM(Estimator):
    """Poisson GLM couplings from polynomial-approximate sufficient statistics (equations in
    the module docstring).

    Parameters
    ----------
    params : GLMParams, optional
        ``bin_ms`` (ms; default 1), ``tau_slow_ms`` / ``tau_fast_ms`` (ms; default: the
        protocol's synapse time constants, else 10 / 3 ms), ``ridge`` (relative L2 penalty;
        default 1e-4), ``interval`` (half-width of the approximation interval; default 0, Taylor).

    Notes
    -----
    :meth:`snapshot` solves the GLM from the statistics accumulated so far: one Cholesky
    factorisation of ``(n_pre + 1)^2`` and two triangular solves per post neuron learnt.

    References
    ----------
    Stevenson et al. (2008), https://doi.org/10.1016/j.conb.2008.11.005 ;
    Stevenson et al. (2009), https://doi.org/10.1109/TNSRE.2008.2010471 ;
    Kobayashi et al. (2019), https://doi.org/10.1038/s41467-019-12225-2 ;
    Zoltowski & Pillow (2018), NeurIPS 31.
    """

    name = "glm"
    Params = GLMParams
    roles = ("pre", "post")
    estimate_is_copy = True

    def _start(self, guess, context):
        if self.n_pre > MAX_PRE:
            raise UserError(
                f"glm: {self.n_pre} pre neurons exceed its limit of {MAX_PRE} "
                f"((n_pre + 1)^2 statistics); use ccg or stdwi",
                key="method",
            )
        p = self.params
        tau_s, tau_f = p.tau_slow_ms, p.tau_fast_ms
        if tau_s is None:
            tau_s = context.tau_slow_ms if context.tau_slow_ms is not None else DEFAULT_TAU_SLOW_MS
        if tau_f is None:
            tau_f = context.tau_fast_ms if context.tau_fast_ms is not None else DEFAULT_TAU_FAST_MS
        tau_s, tau_f = float(tau_s), float(tau_f)
        if not 0 < tau_f < tau_s:
            raise UserError(
                f"glm: needs 0 < tau_fast_ms < tau_slow_ms, got {tau_f:g} and {tau_s:g}",
                key="infer.methods.glm.tau_fast_ms",
            )
        self.tau_slow_ms, self.tau_fast_ms = tau_s, tau_f
        self.kparams = kernel_params(p.bin_ms, tau_s, tau_f, self.timestep_ms)
        self._guess = guess
        posts = np.unique(np.asarray(self.pairs.post_index, np.int64))
        if len(posts) * (self.n_pre + 1) > MAX_CROSS:
            raise UserError(
                f"glm: {len(posts)} post x {self.n_pre + 1} statistics exceed its limit of "
                f"{MAX_CROSS}; use ccg or stdwi",
                key="method",
            )
        row_of = np.full(self.n_post, -1, np.int64)
        row_of[posts] = np.arange(len(posts))
        self._pair_row = row_of[np.asarray(self.pairs.post_index, np.int64)]
        self._pair_pre = np.asarray(self.pairs.pre_index, np.int64)
        n, z = self.n_pre, np.zeros
        self.state = State(
            z((n + 1, n + 1)),
            z((len(posts), n + 1)),
            row_of,
            z(n),
            z(n),
            z(n),
            z(n),
            z(len(posts), np.int64),
            z(n + 1),
            z(2, np.int64),
        )

    def _update(self, chunk: Chunk) -> None:
        in_steps, in_neurons = self.spikes(chunk, "pre")
        out_steps, out_neurons = self.spikes(chunk, "post")
        glm_kernel(
            self.kparams,
            self.state,
            in_steps,
            in_neurons,
            out_steps,
            out_neurons,
            chunk.stop_step,
        )

    def couplings(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted couplings from the statistics so far.

        Returns
        -------
        w : ndarray, shape (n_rows, n_pre)
            Couplings of each post neuron kept (rows in ascending post neuron order).
        known : ndarray of bool, shape (n_rows, n_pre)
            False where the pair has no estimate yet (keeps its initial guess).
        """
        st = self.state
        n_rows, n = st.cross.shape[0], self.n_pre
        n_bins = int(st.bins[1])
        w = np.zeros((n_rows, n))
        if n_bins == 0 or n_rows == 0:
            return w, np.zeros((n_rows, n), bool)
        diag = np.diagonal(st.gram)[1:]
        scale = float(diag.mean()) if n and diag.mean() > 0 else 1.0
        upper, ok = cholesky_upper(st.gram, self.params.ridge * scale)
        if not ok:  # cannot happen with ridge > 0 and a closed bin, unless values overflowed
            raise FloatingPointError("glm: the penalised Gram matrix is not positive definite")
        beta = np.zeros_like(st.cross)
        _solve_rows(upper, st.cross, beta)
        spikes = st.cross[:, 0]
        post_ok = spikes > 0
        mean = np.where(post_ok, spikes, 1.0) / n_bins
        factor = 2.0 * quadratic_a2(self.params.interval) * mean
        w = beta[:, 1:] / factor[:, None]
        known = post_ok[:, None] & (diag > 0)[None, :]
        return w, known

    def _estimate(self):
        out = self._guess.copy()
        w, known = self.couplings()
        if w.size == 0:
            return out
        rows, pre = self._pair_row, self._pair_pre
        ok = known[rows, pre]
        out[ok] = w[rows[ok], pre[ok]]
        return out
