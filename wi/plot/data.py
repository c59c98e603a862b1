"""Readers shared by ``wi plot`` and ``wi show``: they read only what is drawn or printed.

A 4000 s run holds ~20 M spikes; nothing here loads a whole ``spike_times`` dataset. Firing
rates come from the spike counts alone (:func:`wi.store.spike_counts`: the differences of
``spike_times_index``, or ``spike_count`` in a run written with ``record.spikes: false``;
rate = count / duration); rasters read, per neuron, a prefix of its train that grows
geometrically until it passes the time window (spike trains are sorted per neuron), and only
for populations whose spike times are stored (:func:`spike_times_stored`).
"""

from __future__ import annotations

import h5py
import numpy as np
import yaml

from wi.config import yaml_load
from wi.errors import UserError
from wi.infer.metrics import time_to_r90_ms as _time_to_r90_ms
from wi.store.inference import InferenceResult, read_results
from wi.store.populations import require_spikes, spike_counts, spikes_stored
from wi.store.reader import attr_str  # noqa: F401 (used here and by wi.show / wi.plot)

_FIRST_READ = 64  # minimum elements per prefix read


def run_config(h5: h5py.File) -> dict:
    """The resolved config stored in the root attribute ``config`` (empty dict if absent/bad)."""
    text = attr_str(h5.attrs.get("config"))
    if not text:
        return {}
    try:
        cfg = yaml_load(text)
    except yaml.YAMLError:
        return {}
    return cfg if isinstance(cfg, dict) else {}


def find_key(tree, key: str):
    """First value of ``key`` in a nested dict (depth first), or None."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for v in tree.values():
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def observation_noise(cfg: dict) -> dict[str, float]:
    """The non-zero observation-noise amounts of a run config (empty = clean data); switches
    such as ``compare_clean`` are not amounts."""
    noise = cfg.get("observation_noise") or {}
    if not isinstance(noise, dict):
        return {}
    out = {}
    for k, v in noise.items():
        if isinstance(v, bool):  # a switch (compare_clean), not an amount of noise
            continue
        try:
            if float(v) != 0.0:
                out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


# ----------------------------------------------------------------------------- populations
def populations(h5: h5py.File) -> list[str]:
    """Populations with spike data (spike times or only counts), in the protocol's order
    (stimulus, input, output, others)."""
    if "populations" not in h5:
        return []
    names = [
        p
        for p in h5["populations"]
        if isinstance(h5["populations"][p], h5py.Group)
        and any(d in h5["populations"][p] for d in ("spike_times_index", "spike_count"))
    ]
    order = {"stimulus": 0, "input": 1, "output": 2}
    return sorted(names, key=lambda p: (order.get(p, 3), p))


def spike_ends(h5: h5py.File, pop: str) -> np.ndarray:
    """``spike_times_index`` (END offsets, int64), checked to be non-decreasing (a population
    without spike times is a UserError, :func:`wi.store.require_spikes`)."""
    require_spikes(h5, pop)
    key = f"populations/{pop}/spike_times_index"
    ends = np.asarray(h5[key][()], dtype=np.int64).reshape(-1)
    if len(ends) and (ends[0] < 0 or np.any(np.diff(ends) < 0)):
        raise UserError("end offsets decrease", file=h5.filename, key=f"/{key}")
    return ends


def spike_times_stored(h5: h5py.File, pop: str) -> bool:
    """Whether ``pop`` has its spike times (false in a run with ``record.spikes: false``)."""
    return spikes_stored(h5, pop)


def rates_hz(h5: h5py.File, pop: str, duration_ms: float) -> np.ndarray:
    """Mean firing rate of each neuron (Hz) = spike count / duration, from the counts only."""
    return spike_counts(h5, pop) / (duration_ms / 1000.0)


def raster_neurons(n_neurons: int, max_neurons: int | None) -> np.ndarray:
    """The neurons a raster shows: all of them, or ``max_neurons`` evenly spaced ones
    (``floor(k * n_neurons / max_neurons)``, k = 0 .. max_neurons - 1: neuron 0 and every
    (n_neurons / max_neurons)-th after it), int64 ascending."""
    if max_neurons is None or n_neurons <= max_neurons:
        return np.arange(n_neurons, dtype=np.int64)
    return (np.arange(max_neurons, dtype=np.int64) * n_neurons) // max_neurons


def first_spikes(
    h5: h5py.File,
    pop: str,
    t_max_ms: float,
    duration_ms: float,
    max_neurons: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Spikes before ``t_max_ms`` of the neurons :func:`raster_neurons` picks from ``pop``
    (all, or ``max_neurons`` evenly spaced).

    Returns ``(times_ms, neuron_index, n_neurons_shown)``; ``neuron_index`` is the neuron's
    index in the population. Reads per neuron a prefix of its train: first about 1.5x the count
    expected from its mean rate, doubled until the last value read is >= ``t_max_ms`` or the
    train ends. Cost O(spikes shown), not O(spikes stored).
    """
    ends = spike_ends(h5, pop)
    ds = h5[f"populations/{pop}/spike_times"]
    chosen = raster_neurons(len(ends), max_neurons)
    if len(chosen) and ends[chosen[-1]] > ds.shape[0]:
        raise UserError(
            "index points past the end of spike_times",
            file=h5.filename,
            key=f"/populations/{pop}/spike_times_index",
        )
    frac = min(1.0, t_max_ms / duration_ms) if duration_ms > 0 else 1.0
    times, neurons = [], []
    for i in chosen:
        start = int(ends[i - 1]) if i else 0
        count = int(ends[i]) - start
        want = min(count, max(_FIRST_READ, int(1.5 * count * frac) + 1))
        while True:
            block = ds[start : start + want] if want else np.empty(0)
            if want >= count or block[-1] >= t_max_ms:
                break
            want = min(count, 2 * want)
        block = block[: np.searchsorted(block, t_max_ms, side="left")]
        times.append(np.asarray(block, np.float64))
        neurons.append(np.full(len(block), i, np.int64))
    if not times:
        return np.empty(0), np.empty(0, np.int64), 0
    return np.concatenate(times), np.concatenate(neurons), len(chosen)


# ----------------------------------------------------------------------------- inference
#: One method's result on one projection (:class:`wi.store.inference.InferenceResult`).
MethodResult = InferenceResult


def inference_results(h5: h5py.File) -> list[InferenceResult]:
    """Every inference result of the file (schema versions 1 and 2, read by
    :func:`wi.store.inference.read_results`), ordered by projection (file order) then method
    (stdwi, akrout, rdd, bayes, others; each clean variant before its noisy one)."""
    results = read_results(h5)
    first = {}
    for r in results:
        first.setdefault(r.projection, len(first))
    return sorted(results, key=lambda r: (first[r.projection], _method_order(r.name)))


def by_projection(results: list[InferenceResult]) -> dict[str, list[InferenceResult]]:
    """The results grouped by the projection they estimate (order kept)."""
    out: dict[str, list[InferenceResult]] = {}
    for r in results:
        out.setdefault(r.projection, []).append(r)
    return out


def _method_order(name: str) -> tuple:
    """stdwi, akrout, rdd, bayes, then others; each clean variant before its noisy one."""
    from wi.plot.style import METHOD_COLOURS, base_method, is_noisy

    known = list(METHOD_COLOURS)
    base = base_method(name)
    return (known.index(base) if base in known else len(known), base, is_noisy(name), name)


def time_to_r90_ms(res: MethodResult) -> float:
    """Attr ``time_to_r90_ms`` if stored, else the first history time with r >= 0.9 (NaN: never)."""
    v = res.attrs.get("time_to_r90_ms")
    if v is not None:
        return float(v)
    r = res.metrics.get("pearson_r")
    return float("nan") if r is None else _time_to_r90_ms(res.time_ms, r)
