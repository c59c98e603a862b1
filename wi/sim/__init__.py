"""Simulation: protocols that stream network activity as time chunks.

``build_protocol(cfg)`` -> :class:`Protocol` (kinds ``lif_feedforward`` and ``wiener``).
Modules: ``stimulus`` (Poisson/SIP stimulation with active subsets), ``synapse`` (double-
exponential PSPs), ``neuron`` (forward-Euler LIF), ``feedforward`` (the two-layer network
kernel), ``wiener`` (Wiener-process neurons), ``network`` (the protocols).

The protocols (and with them numba) are imported on first use, so that ``wi.sim.config``
(imported to validate a config) does not load the kernels.
"""

__all__ = ["FeedforwardProtocol", "Protocol", "WienerProtocol", "build_protocol"]


def __getattr__(name: str):
    if name in __all__:
        from wi.sim import network

        return getattr(network, name)
    raise AttributeError(f"module 'wi.sim' has no attribute {name!r}")
