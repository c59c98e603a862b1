"""wi: weight-inference experiment runner for spiking networks.

The library is importable from notebooks; the ``wi`` command is a thin layer over it.
One time unit inside: ms. Spikes inside are integer step indices; files hold ms.
"""

__version__ = "0.1.0"
