"""Small run files written directly with h5py in the contract layout (DESIGN.md section 3,
issues 3 and 4), independent of the simulator. Shared by test_plot*.py and test_show.py."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

METHODS = ("stdwi", "akrout", "rdd")


def root_attrs(
    h5: h5py.File,
    kind: str,
    duration_ms: float,
    timestep_ms: float,
    config: str = "",
    seed: int = 7,
) -> None:
    h5.attrs.update(
        {
            "schema": "wi-run",
            "schema_version": 1,
            "wi_version": "0.1.0",
            "created_utc": "2024-01-02T03:04:05Z",
            "command": "wi run fixture.yaml",
            "kind": kind,
            "seed": seed,
            "timestep_ms": timestep_ms,
            "duration_ms": duration_ms,
            "config": config or f"kind: {kind}\nseed: {seed}\n",
            "status": "complete",
        }
    )


def write_population(h5: h5py.File, name: str, trains: list[np.ndarray]) -> None:
    g = h5.create_group(f"populations/{name}")
    g.create_dataset("spike_times", data=np.concatenate(trains) if trains else np.empty(0))
    g.create_dataset("spike_times_index", data=np.cumsum([len(t) for t in trains]).astype(np.int64))


def poisson_trains(rng, n: int, rates_hz: np.ndarray, duration_ms: float, dt: float):
    """Sorted spike times on the dt grid, neuron i at rates_hz[i]."""
    out = []
    for i in range(n):
        k = rng.poisson(rates_hz[i] * duration_ms / 1000)
        steps = np.unique(rng.integers(0, int(duration_ms / dt), k))
        out.append(steps * dt)
    return out


def write_inference_run(
    path: Path,
    *,
    n_in: int = 20,
    n_out: int = 4,
    duration_ms: float = 3000.0,
    methods=METHODS,
    noise: str = "",
    kind: str = "lif_feedforward",
    one_to_one: bool = False,
    seed: int = 3,
) -> dict:
    """A feedforward run with spikes, true weights and inference histories; returns its truth."""
    rng = np.random.default_rng(seed)
    dt = 0.25
    truth = {"trains": {}, "methods": {}}
    config = f"kind: {kind}\nseed: {seed}\nobservation_noise:\n{noise or '  drop_prob: 0.0'}\n"
    with h5py.File(path, "w") as h5:
        root_attrs(h5, kind, duration_ms, dt, config)
        sizes = {"stimulus": n_in, "input": n_in, "output": n_out}
        for pop, n in sizes.items():
            rates = rng.uniform(2, 60, n)
            trains = poisson_trains(rng, n, rates, duration_ms, dt)
            write_population(h5, pop, trains)
            truth["trains"][pop] = trains
        if one_to_one:
            w = np.diag(np.linspace(-0.1, 0.1, n_in))
            n_out = n_in
        else:
            w = rng.normal(0.1, 1.0, (n_out, n_in))
        h5.create_dataset("network/input_output/weights", data=w)
        truth["weights"] = w
        n_checks = int(duration_ms // 1000) + 1
        t = np.arange(n_checks) * 1000.0
        for k, m in enumerate(methods):
            hist = np.empty((n_checks, n_out, n_in))
            for c in range(n_checks):
                noise_sd = 2.0 / (1 + c * (k + 1))
                hist[c] = 0.5 * w + rng.normal(0, noise_sd, w.shape)
            g = h5.create_group(f"inference/{m}")
            g.create_dataset("weights", data=hist)
            g.create_dataset("time_ms", data=t)
            r = np.array([np.corrcoef(h.ravel(), w.ravel())[0, 1] for h in hist])
            s = np.array([np.mean(np.sign(h) == np.sign(w)) for h in hist])
            cos = np.array(
                [h.ravel() @ w.ravel() / np.linalg.norm(h) / np.linalg.norm(w) for h in hist]
            )
            for name, v in (
                ("pearson_r", r),
                ("sign_accuracy", s),
                ("cosine", cos),
                ("rmse_scaled", 1 - cos),
            ):
                g.create_dataset(f"metrics/{name}", data=v)
            hit = np.flatnonzero(r >= 0.9)
            g.attrs.update(
                {
                    "params": f"method: {m}\n",
                    "projection": "input_output",
                    "runtime_s": 1.25 + k,
                    "time_to_r90_ms": float(t[hit[0]]) if len(hit) else np.nan,
                }
            )
            truth["methods"][m] = {
                "final": hist[-1],
                "r": r,
                "s": s,
                "cos": cos,
                "t": t,
                "runtime_s": 1.25 + k,
            }
    return truth


def write_autoencoder_run(
    path: Path,
    *,
    n_pref: int = 10,
    mu: float = 0.1,
    tuning=True,
    tilt=True,
    series=True,
    seed: int = 5,
) -> dict:
    """An orientation-ring autoencoder file (issue 4 item 5) with made-up but consistent data."""
    rng = np.random.default_rng(seed)
    pref = np.tile(np.arange(n_pref) * 180.0 / n_pref, 2)
    gamma = np.repeat([3.0, 9.0], n_pref)
    th = np.radians(2 * pref)
    w = gamma[:, None] * np.stack([np.cos(th), np.sin(th)], axis=1)
    gain = 1.0 / (gamma**2 + mu)
    n = len(pref)
    duration = 1000.0
    truth = {"pref": pref, "w": w, "gain": gain, "mu": mu, "n": n}
    with h5py.File(path, "w") as h5:
        root_attrs(
            h5,
            "autoencoder",
            duration,
            0.01,
            f"kind: autoencoder\nmodel:\n  mu: {mu}\n  tau_ms: 5.0\n",
        )
        ae = h5.create_group("autoencoder")
        ae.attrs.update(
            {
                "rmse_early": 1.5,
                "rmse_late": 2.25,
                "rate_early_hz": 40.0,
                "rate_late_hz": 31.5,
                "orientation_error_deg": 0.125,
            }
        )
        ae.create_dataset("network/decoder_weights", data=w)
        ae.create_dataset("network/gain", data=gain)
        ae.create_dataset("network/preferred_orientation_deg", data=pref)
        k = 300
        st = np.sort(rng.uniform(100, duration, k))
        sn = rng.integers(0, n, k)
        ae.create_dataset("spikes/time_ms", data=st)
        ae.create_dataset("spikes/neuron", data=sn)
        truth.update(spike_t=st, spike_n=sn)
        if series:
            t = np.arange(0, duration, 0.5)
            on = (t >= 100) & (t < 900)
            ori = np.radians(80.0)
            phi = 50 * on[:, None] * np.array([np.cos(2 * ori), np.sin(2 * ori)])
            phi_hat = 0.95 * phi + rng.normal(0, 0.5, phi.shape)
            ae.create_dataset("time_ms", data=t)
            ae.create_dataset("phi", data=phi)
            ae.create_dataset("phi_hat", data=phi_hat)
            truth.update(t=t, phi=phi, phi_hat=phi_hat)
        if tuning:
            test = np.arange(0, 180, 20.0)
            d = np.radians(pref[:, None] - test[None, :])
            before = 30 * np.exp(np.cos(2 * d) - 1)
            after = before * 0.8
            g = ae.create_group("tuning")
            g.create_dataset("test_orientation_deg", data=test)
            g.create_dataset("rates_before_hz", data=before)
            g.create_dataset("rates_after_hz", data=after)
            g.attrs["adaptor_orientation_deg"] = 80.0
            truth.update(test=test, before=before, after=after)
        if tilt:
            off = np.arange(-90, 91, 15.0)
            bias = 3 * np.sin(np.radians(2 * off)) * np.exp(-np.abs(off) / 40)
            ae.create_dataset("tilt/offset_deg", data=off)
            ae.create_dataset("tilt/bias_deg", data=bias)
            truth.update(offset=off, bias=bias)
    return truth
