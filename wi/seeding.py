"""Random streams.

Every random component draws from its own child of the run seed, identified by a name and
optional integer indices (for example the stimulus block number). Streams are derived with
``numpy.random.SeedSequence(seed, spawn_key=(crc32(name), *indices))``, so they never depend on
how many other streams exist, on the chunk size, or on the run duration.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_seed(seed: int, name: str, *indices: int) -> np.random.SeedSequence:
    """The SeedSequence of stream ``name`` (with ``indices``) of run seed ``seed``."""
    key = (zlib.crc32(name.encode()), *(int(i) for i in indices))
    return np.random.SeedSequence(entropy=int(seed), spawn_key=key)


def stream(seed: int, name: str, *indices: int) -> np.random.Generator:
    """A PCG64 generator for stream ``name`` (with ``indices``) of run seed ``seed``."""
    return np.random.Generator(np.random.PCG64(stream_seed(seed, name, *indices)))
