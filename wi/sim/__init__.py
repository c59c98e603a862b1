"""Simulation: protocols that stream network activity as time chunks.

``build_protocol(cfg)`` -> :class:`Protocol` (kinds ``lif_feedforward`` and ``wiener``).
Modules: ``stimulus`` (Poisson/SIP stimulation with active subsets), ``synapse`` (double-
exponential PSPs), ``neuron`` (forward-Euler LIF), ``feedforward`` (the two-layer network
kernel), ``wiener`` (Wiener-process neurons), ``network`` (the protocols).
"""

from wi.sim.network import FeedforwardProtocol, Protocol, WienerProtocol, build_protocol

__all__ = ["FeedforwardProtocol", "Protocol", "WienerProtocol", "build_protocol"]
