"""Networks beyond the paper protocol: any set of populations and projections, as data.

This package describes a network, builds its synapses and streams its simulation.

- :mod:`wi.net.spec`: the parts of a network as config sections: populations (``poisson``
  sources, ``lif`` and ``wiener`` neurons), connectivity rules (``all_to_all``, ``one_to_one``,
  ``fixed_probability``, ``fixed_indegree``) and weight distributions (``constant``,
  ``normal``, ``lognormal``, optionally signed by Dale's law), each with its equations.
- :mod:`wi.net.config`: :class:`~wi.net.config.NetworkConfig`, the config of kind ``network``
  (names, sizes and cross-references checked as a whole), and
  :func:`~wi.net.config.load_network`, which turns a raw mapping into it or raises a one-line
  :class:`~wi.errors.UserError` naming the dotted key.
- :mod:`wi.net.connectivity`: :func:`~wi.net.connectivity.build_projection` draws one
  projection's synapses as a CSR matrix by presynaptic neuron (int64 ``indptr``, int32
  ``post_index``, float64 ``weight``) from random streams of its own, in time and memory
  linear in the number of synapses.
- :mod:`wi.net.protocol`: :class:`~wi.net.protocol.NetworkProtocol`, any network run by the
  event-driven engine (:mod:`wi.sim.engine`: each spike walks its presynaptic CSR row) and
  streamed as time chunks.
- :mod:`wi.net.presets`: the kinds ``lif_feedforward`` and ``wiener`` as networks of that
  engine, spike for spike their former runs.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names and their modules, imported on first use (importing :mod:`wi.net.config`, as the
#: config loader does, does not import the connectivity builder).
_EXPORTS = {
    "NetworkConfig": "wi.net.config",
    "load_network": "wi.net.config",
    "Projection": "wi.net.connectivity",
    "build_network": "wi.net.connectivity",
    "build_projection": "wi.net.connectivity",
    "NetworkProtocol": "wi.net.protocol",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'wi.net' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
