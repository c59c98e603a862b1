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

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _source_hash() -> str:
    digest = hashlib.sha1()
    for path in sorted((ROOT / "wi").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(ROOT / ".numba-cache" / _source_hash())


@pytest.fixture
def brian2():
    """Brian2 with its numpy code-generation target (no compiler), in a fresh scope: the
    oracle tests' simulator (``pytest -m oracle`` in ``.venv-oracle``). With ``CI=true`` a
    missing Brian2 fails instead of skipping."""
    try:
        import brian2
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Brian2 oracle cannot run in CI: {exc}")
        pytest.skip(f"brian2 not importable ({exc}); `make test` runs it in .venv-oracle")
    old = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    brian2.start_scope()
    yield brian2
    brian2.prefs.codegen.target = old
