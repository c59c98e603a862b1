"""Writing the autoencoder's part of a run file (schema ``wi-run``, kind ``autoencoder``).

Paths written here (every path, unit and attribute of the file, the tuning and tilt groups
included, is listed in docs/run-file.md, "Autoencoder results")::

    /autoencoder/spikes/neuron        int32 (n_spikes,), sorted by time then neuron
    /autoencoder/spikes/time_ms       float64 (n_spikes,) = step * timestep_ms
    /autoencoder/time_ms              float64 (n_samples,), every record.sample_ms
    /autoencoder/phi, /phi_hat        float64 (n_samples, J)
    /autoencoder/network/decoder_weights  (N, J); gain (N,) = g_i = 1 / (|w_i|^2 + mu);
                     weight_norm (N,) = |w_i|; threshold (N,) = 1/2 + eta g_i;
                     preferred_orientation_deg (N,) for 2-D networks
    /autoencoder attrs                summary metrics (float64 scalars)

Datasets grow chunk by chunk, so memory does not grow with the simulated duration.
"""

from __future__ import annotations

import h5py
import numpy as np

from wi.autoencoder.model import Output, Params
from wi.autoencoder.network import Decoders
from wi.store import mark_complete, write_root_attrs


def write_root(h5: h5py.File, cfg, *, command: str, config_yaml: str, duration_ms: float) -> None:
    """Root attributes; ``status`` stays "incomplete" until :func:`finish`."""
    write_root_attrs(
        h5,
        command=command,
        config_yaml=config_yaml,
        kind="autoencoder",
        seed=int(cfg.seed),
        timestep_ms=float(cfg.timestep_ms),
        duration_ms=float(duration_ms),
    )


def write_network(group: h5py.Group, dec: Decoders, params: Params, mu: float) -> None:
    net = group.create_group("network")
    net.create_dataset("decoder_weights", data=dec.weights)
    gain = net.create_dataset("gain", data=1.0 / (dec.weight_norm**2 + mu))
    gain.attrs["definition"] = "g_i = 1 / (|w_i|^2 + mu); high gain = small |w_i|"
    net.create_dataset("weight_norm", data=dec.weight_norm)
    net.create_dataset("threshold", data=params.threshold)
    if dec.preferred_orientation_deg is not None:
        ds = net.create_dataset("preferred_orientation_deg", data=dec.preferred_orientation_deg)
        ds.attrs["units"] = "deg"


def finish(h5: h5py.File, group: h5py.Group, metrics: dict[str, float]) -> None:
    for k, v in metrics.items():
        group.attrs[k] = float(v)
    mark_complete(h5)


class TraceWriter:
    """Appends spike events and phi/phi_hat samples of successive simulation chunks."""

    def __init__(self, group: h5py.Group, n_dims: int, timestep_ms: float):
        self.dt = timestep_ms
        sp = group.create_group("spikes")
        big = 1 << 16
        self.neuron = sp.create_dataset("neuron", (0,), np.int32, maxshape=(None,), chunks=(big,))
        self.time = sp.create_dataset("time_ms", (0,), np.float64, maxshape=(None,), chunks=(big,))
        self.time.attrs["units"] = "ms"
        self.t = group.create_dataset("time_ms", (0,), np.float64, maxshape=(None,), chunks=(big,))
        self.t.attrs["units"] = "ms"
        shape = dict(shape=(0, n_dims), dtype=np.float64, maxshape=(None, n_dims))
        self.phi = group.create_dataset("phi", chunks=(big // 4, n_dims), **shape)
        self.phi_hat = group.create_dataset("phi_hat", chunks=(big // 4, n_dims), **shape)

    @staticmethod
    def _extend(ds: h5py.Dataset, data: np.ndarray) -> None:
        n = ds.shape[0]
        ds.resize(n + len(data), axis=0)
        ds[n:] = data

    def append(self, out: Output) -> None:
        if len(out.spike_steps):
            self._extend(self.neuron, out.spike_neurons)
            self._extend(self.time, out.spike_steps * self.dt)
        if len(out.sample_steps):
            self._extend(self.t, out.sample_steps * self.dt)
            self._extend(self.phi, out.phi)
            self._extend(self.phi_hat, out.phi_hat)
