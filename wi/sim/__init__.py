"""Simulation: protocols that stream network activity as time chunks.

``build_protocol(cfg)`` -> :class:`~wi.net.protocol.NetworkProtocol` (kinds
``lif_feedforward``, ``wiener`` and ``network``). Modules: ``engine`` (the one event-driven
engine for any network of populations and projections), ``neuron`` (forward-Euler LIF),
``wiener`` (Wiener-process neurons), ``synapse`` (double-exponential PSPs), ``stimulus``
(Poisson/SIP sources with active subsets), ``network`` (the protocol base and the routing of
the kinds).

The protocols (and with them numba) are imported on first use, so that ``wi.sim.config``
(imported to validate a config) does not load the kernels.
"""

__all__ = ["NetworkProtocol", "Protocol", "build_protocol"]


def __getattr__(name: str):
    if name == "NetworkProtocol":
        from wi.net.protocol import NetworkProtocol

        return NetworkProtocol
    if name in __all__:
        from wi.sim import network

        return getattr(network, name)
    raise AttributeError(f"module 'wi.sim' has no attribute {name!r}")
