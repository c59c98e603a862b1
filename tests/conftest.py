"""Test-session set-up shared by every test module.

Numba's on-disk cache (``@njit(cache=True)``) checks only the source file of each cached
function: a kernel whose *callee* in another module changed (``wi/sim/synapse.py`` under the
feedforward kernel, say) would be loaded stale, and tests could pass on old code. Unless the
caller chose a cache directory, the tests use one keyed by a hash of every ``wi/*.py`` file, so
any edit of the package compiles afresh (subprocesses started by the tests inherit it).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _source_hash() -> str:
    digest = hashlib.sha1()
    for path in sorted((ROOT / "wi").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(ROOT / ".numba-cache" / _source_hash())
