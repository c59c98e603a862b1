"""Experiments of the adaptive autoencoder: ``single``, ``tuning`` and ``tilt``.

Entry point: :func:`run` (called by ``wi autoencoder``). Trials of an experiment are
independent and run in a thread pool (the numba kernel releases the GIL), one thread per core.

- single: the configured stimulus; spikes, phi and phi_hat are streamed to the run file.
  Early window = [onset + 5 tau, + summary_window_ms), late = the last summary_window_ms of
  the stimulus.
- tuning: rates over ``test_ms`` for ``n_test_orientations`` test orientations, before (fresh
  network) and after the adaptor (the adaptor's final state carried into each test).
- tilt: decoded test orientation (from the mean phi_hat over the test window) before and after
  the adaptor; bias = after - before, signed so that positive = repelled from the adaptor.
The recorded trace of tuning/tilt is the adaptor run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from wi.autoencoder import network as nw
from wi.autoencoder.config import AutoencoderConfig
from wi.autoencoder.model import (
    Output,
    Params,
    Schedule,
    State,
    initial_state,
    rate_cap_fraction,
    simulate,
    warn_rate_cap,
)
from wi.autoencoder.runfile import TraceWriter, finish, write_network, write_root
from wi.cpus import available_cpus
from wi.errors import UserError
from wi.progress import progress
from wi.store import atomic_path
from wi.store.lock import writer_lock

EXPERIMENTS = ("single", "tuning", "tilt")
CHUNK_STEPS = 100_000  # steps per streamed chunk (a multiple of the 100-step rate-cap window)


def run(
    cfg: AutoencoderConfig,
    out_path: Path,
    experiment: str | None = None,
    *,
    command: str = "",
    quiet: bool = False,
    force: bool = False,
) -> dict[str, float]:
    """Run an experiment (None = ``cfg.experiment``), write the run file atomically and
    return the summary metrics (also stored as attributes of ``/autoencoder``).

    The file is written under the run file's writer lock; an existing ``out_path`` is replaced
    only with ``force`` (also when another process creates it while this one runs)."""
    from wi.config import to_yaml

    exp = experiment or cfg.experiment
    if exp not in EXPERIMENTS:
        raise UserError(f"unknown experiment {exp!r}; one of {', '.join(EXPERIMENTS)}",
                        key="--experiment")  # fmt: skip
    if exp != cfg.experiment:
        cfg = cfg.model_copy(update={"experiment": exp})
    if exp != "single" and cfg.network.n_dims != 2:
        raise UserError(f"the {exp} experiment needs a 2-D (orientation) network, "
                        f"this one encodes J = {cfg.network.n_dims}", key="network")  # fmt: skip
    dec = nw.decoders(cfg.network, cfg.seed)
    params = nw.params_of(cfg, dec.weights)
    duration_ms = {"single": cfg.duration_ms, "tuning": cfg.tuning.adaptor_ms,
                   "tilt": cfg.tilt.adaptor_ms}[exp]  # fmt: skip
    target = Path(out_path)
    with (
        writer_lock(target),
        atomic_path(target, overwrite=force) as tmp,
        h5py.File(tmp, "w") as h5,
    ):
        write_root(h5, cfg, command=command, config_yaml=to_yaml(cfg), duration_ms=duration_ms)
        group = h5.create_group("autoencoder")
        group.attrs["experiment"] = exp
        write_network(group, dec, params, cfg.network.mu)
        fn = {"single": _single, "tuning": _tuning, "tilt": _tilt}[exp]
        metrics = fn(cfg, params, dec, group, quiet)
        finish(h5, group, metrics)
    return metrics


def _stream(params: Params, state: State, sched: Schedule, n_steps: int, every: int,
            writer: TraceWriter, bar, on_output=None) -> tuple[State, float]:  # fmt: skip
    """Simulate in chunks, append each chunk to the file; returns (state, rate-cap fraction)."""
    cap, m, dt = 0.0, params.max_spikes_per_step, params.timestep_ms
    done = 0
    while done < n_steps:
        k = min(CHUNK_STEPS, n_steps - done)
        t0 = state.step
        state, out = simulate(params, state, sched, k, every)
        writer.append(out)
        cap = max(cap, rate_cap_fraction(out.spike_steps, t0, k, m))
        if on_output is not None:
            on_output(out)
        bar.advance(k * dt / 1000.0)
        done += k
    return state, cap


def _high_gain(dec: nw.Decoders) -> np.ndarray:
    """High-gain neurons: decoder norm below the median (:func:`wi.autoencoder.network.high_gain_mask`)."""
    return nw.high_gain_mask(-dec.weight_norm)


class _SingleStats:
    """Streaming summary of the single run (counts and sums only)."""

    def __init__(self, cfg: AutoencoderConfig, sched: Schedule, dec: nw.Decoders):
        dt, self.sched, self.dec = cfg.timestep_ms, sched, dec
        on = nw.steps(cfg.stimulus.start_ms, dt)
        off = nw.steps(cfg.stimulus.end_ms, dt)
        self.settle = nw.steps(5 * cfg.network.tau_ms, dt)
        w = nw.steps(cfg.record.summary_window_ms, dt)
        self.win = {"early": (on + self.settle, min(on + self.settle + w, off)),
                    "late": (max(off - w, on + self.settle), off)}  # fmt: skip
        n = len(dec.weights)
        self.counts = {k: np.zeros(n, np.int64) for k in self.win}
        self.err = {k: np.zeros(2) for k in self.win}  # sum |phi - phi_hat|^2, sum |phi|^2
        self.ori = np.zeros(3)  # sum err, sum |err|, count
        self.mag = np.zeros(2)  # sum |phi_hat|, sum |phi|
        self.n_spikes = 0

    def add(self, out: Output) -> None:
        self.n_spikes += len(out.spike_steps)
        s = out.sample_steps
        piece = np.searchsorted(self.sched.start_step, s, side="right") - 1
        settled = (s - self.sched.start_step[piece] >= self.settle) & np.any(out.phi != 0, axis=1)
        for key, (a, b) in self.win.items():
            m = (out.spike_steps >= a) & (out.spike_steps < b)
            self.counts[key] += np.bincount(out.spike_neurons[m], minlength=len(self.counts[key]))
            ms = settled & (s >= a) & (s < b)
            self.err[key] += [np.sum((out.phi[ms] - out.phi_hat[ms]) ** 2),
                              np.sum(out.phi[ms] ** 2)]  # fmt: skip
        self.mag += [np.linalg.norm(out.phi_hat[settled], axis=1).sum(),
                     np.linalg.norm(out.phi[settled], axis=1).sum()]  # fmt: skip
        if out.phi.shape[1] == 2 and settled.any():
            e = nw.wrap_deg(nw.decode_orientation_deg(out.phi_hat[settled])
                            - nw.decode_orientation_deg(out.phi[settled]))  # fmt: skip
            self.ori += [e.sum(), np.abs(e).sum(), len(e)]

    def metrics(self, dt: float) -> dict[str, float]:
        out: dict[str, float] = {"n_spikes": float(self.n_spikes)}
        high = _high_gain(self.dec)
        for key, (a, b) in self.win.items():
            sec = max(b - a, 1) * dt / 1000.0
            c = self.counts[key]
            out[f"population_rate_{key}_hz"] = c.sum() / sec
            if 0 < high.sum() < len(high):
                out[f"high_gain_rate_{key}_hz"] = c[high].sum() / sec
                out[f"low_gain_rate_{key}_hz"] = c[~high].sum() / sec
        for key in self.win:
            se, sp = self.err[key]
            out[f"reconstruction_error_{key}"] = float(np.sqrt(se / sp)) if sp > 0 else np.nan
        out["phi_hat_fraction"] = self.mag[0] / self.mag[1] if self.mag[1] > 0 else np.nan
        if self.ori[2] > 0:
            out["orientation_bias_deg"] = self.ori[0] / self.ori[2]
            out["orientation_error_deg"] = self.ori[1] / self.ori[2]
        return out


def _single(cfg, params, dec, group, quiet) -> dict[str, float]:
    dt = cfg.timestep_ms
    sched = nw.schedule(cfg.stimulus, cfg.network.n_dims, dt)
    every = nw.steps(cfg.record.sample_ms, dt)
    writer = TraceWriter(group, cfg.network.n_dims, dt)
    stats = _SingleStats(cfg, sched, dec)
    with progress("autoencoder", cfg.duration_ms / 1000.0, quiet=quiet) as bar:
        _, cap = _stream(params, initial_state(params), sched, cfg.n_steps, every, writer, bar,
                         stats.add)  # fmt: skip
    metrics = stats.metrics(dt)
    metrics["rate_cap_fraction"] = cap
    warn_rate_cap(cap, dt, params.max_spikes_per_step)
    return metrics


def _adapt_and_test(cfg, params, group, quiet, section, test_deg):
    """Before (fresh) and after (adaptor state) runs of each test orientation, in parallel.

    Returns (before, after) lists of Output and the rate-cap fraction."""
    dt = cfg.timestep_ms
    every = nw.steps(cfg.record.sample_ms, dt)
    n_adapt, n_test = nw.steps(section.adaptor_ms, dt), nw.steps(section.test_ms, dt)
    phi_a = nw.orientation_vector(section.adaptor_orientation_deg, section.adaptor_magnitude)
    tests = [nw.orientation_vector(th, section.test_magnitude) for th in test_deg]
    fresh = initial_state(params)
    m = params.max_spikes_per_step
    total_s = (section.adaptor_ms + 2 * len(tests) * section.test_ms) / 1000.0
    writer = TraceWriter(group, 2, dt)
    with progress("autoencoder " + cfg.experiment, total_s, quiet=quiet) as bar, \
            ThreadPoolExecutor(max_workers=available_cpus()) as pool:  # fmt: skip
        before = [pool.submit(simulate, params, fresh,
                              nw.schedule_from_pieces([(section.test_ms, p)], dt), n_test, every)
                  for p in tests]  # fmt: skip
        adapt_sched = nw.schedule_from_pieces([(section.adaptor_ms, phi_a)], dt)
        state_a, cap = _stream(params, fresh, adapt_sched, n_adapt, every, writer, bar)
        after = [pool.submit(simulate, params, state_a,
                             nw.schedule_from_pieces([(section.adaptor_ms, phi_a),
                                                      (section.test_ms, p)], dt), n_test, every)
                 for p in tests]  # fmt: skip
        results = []
        for futures, start in ((before, 0), (after, n_adapt)):
            outs = []
            for fut in futures:
                _, out = fut.result()
                cap = max(cap, rate_cap_fraction(out.spike_steps, start, n_test, m))
                outs.append(out)
                bar.advance(section.test_ms / 1000.0)
            results.append(outs)
    warn_rate_cap(cap, dt, m)
    return results[0], results[1], cap


def _tuning(cfg, params, dec, group, quiet) -> dict[str, float]:
    tu = cfg.tuning
    n = len(dec.weights)
    test_deg = 180.0 * np.arange(tu.n_test_orientations) / tu.n_test_orientations
    before, after, cap = _adapt_and_test(cfg, params, group, quiet, tu, test_deg)
    sec = nw.steps(tu.test_ms, cfg.timestep_ms) * cfg.timestep_ms / 1000.0
    rates = [np.stack([np.bincount(o.spike_neurons, minlength=n) / sec for o in outs], axis=1)
             for outs in (before, after)]  # fmt: skip
    g = group.create_group("tuning")
    g.attrs["adaptor_orientation_deg"] = tu.adaptor_orientation_deg
    g.create_dataset("test_orientation_deg", data=test_deg)
    g.create_dataset("rates_before_hz", data=rates[0])
    g.create_dataset("rates_after_hz", data=rates[1])
    metrics = {"population_rate_before_hz": rates[0].sum(0).mean(),
               "population_rate_after_hz": rates[1].sum(0).mean(),
               "rate_cap_fraction": cap}  # fmt: skip
    metrics.update(tuning_effects(rates[0], rates[1], test_deg, dec, tu.adaptor_orientation_deg))
    return metrics


def tuning_effects(before, after, test_deg, dec: nw.Decoders, adaptor_deg: float) -> dict:
    """Paper claims as numbers: after/before rate ratios of high-gain neurons preferring
    within 10 deg of the adaptor (at the test nearest the adaptor), and of low-gain neurons
    preferring 20-60 deg from it (at tests 20-60 deg from the adaptor, on their side)."""
    high = _high_gain(dec)
    pref = nw.wrap_deg(dec.preferred_orientation_deg - adaptor_deg)
    test = nw.wrap_deg(np.asarray(test_deg) - adaptor_deg)
    k0 = int(np.argmin(np.abs(test)))
    near = high & (np.abs(pref) <= 10)
    out = {}
    if near.any() and before[near, k0].sum() > 0:
        out["high_gain_near_adaptor_ratio"] = after[near, k0].sum() / before[near, k0].sum()
    flank = ~high & (np.abs(pref) >= 20) & (np.abs(pref) <= 60)
    cols = (np.abs(test) >= 20) & (np.abs(test) <= 60)
    same_side = np.sign(pref)[:, None] == np.sign(test)[None, :]
    mask = flank[:, None] & cols[None, :] & same_side
    if mask.any() and before[mask].sum() > 0:
        out["low_gain_flank_ratio"] = after[mask].sum() / before[mask].sum()
    return out


def _tilt(cfg, params, dec, group, quiet) -> dict[str, float]:
    ti = cfg.tilt
    offsets = -90.0 + 180.0 * (np.arange(ti.n_offsets) + 1) / ti.n_offsets
    test_deg = np.mod(ti.adaptor_orientation_deg + offsets, 180.0)
    before, after, cap = _adapt_and_test(cfg, params, group, quiet, ti, test_deg)
    dec_b = np.array([nw.decode_orientation_deg(o.phi_hat.mean(0)) for o in before])
    dec_a = np.array([nw.decode_orientation_deg(o.phi_hat.mean(0)) for o in after])
    bias = nw.wrap_deg(dec_a - dec_b) * np.sign(offsets)
    g = group.create_group("tilt")
    g.attrs["adaptor_orientation_deg"] = ti.adaptor_orientation_deg
    g.attrs["bias_sign"] = "positive = decoded test orientation repelled from the adaptor"
    g.create_dataset("offset_deg", data=offsets)
    g.create_dataset("bias_deg", data=bias)
    g.create_dataset("decoded_before_deg", data=dec_b)
    g.create_dataset("decoded_after_deg", data=dec_a)
    k = int(np.argmax(bias))
    far = np.abs(offsets) > 60
    return {"max_repulsion_deg": float(bias[k]),
            "offset_of_max_repulsion_deg": float(abs(offsets[k])),
            "mean_bias_beyond_60deg": float(bias[far].mean()) if far.any() else np.nan,
            "rate_cap_fraction": cap}  # fmt: skip
