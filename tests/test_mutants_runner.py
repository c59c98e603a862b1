"""scripts/mutants.py: the parts that decide whether a mutant's result can be trusted."""

import importlib.util
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("cosmic_ray")  # the mutation operators (pinned in the test extra)


def _load():
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutants"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


M = _load()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def _call(tree: Path, cache: Path, expr: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache))
    code = f"import wi.caller, wi.other; print({expr})"  # e.g. "4 0"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def test_mutated_callee_recompiles_its_callers_in_other_files(tmp_path):
    """numba's cache of a caller is keyed by the caller's own file only: after the callee's file
    changes, a warm cache would run the old callee. fresh_cache drops the mutated module and its
    importers, and keeps the rest."""
    tree, warm, fresh = tmp_path / "tree", tmp_path / "warm", tmp_path / "fresh"
    _write(tree / "wi" / "__init__.py", "")
    _write(
        tree / "wi" / "callee.py",
        """
        from numba import njit

        @njit(cache=True)
        def f(x):
            return x + 1
        """,
    )
    _write(
        tree / "wi" / "caller.py",
        """
        from numba import njit
        from wi.callee import f

        @njit(cache=True)
        def g(x):
            return 2 * f(x)
        """,
    )
    _write(
        tree / "wi" / "other.py",
        """
        from numba import njit

        @njit(cache=True)
        def h(x):
            return x - 1
        """,
    )
    assert _call(tree, warm, "wi.caller.g(1), wi.other.h(1)") == "4 0"
    time.sleep(0.01)  # a new mtime for the edited file, as a mutant write has
    callee = tree / "wi" / "callee.py"
    callee.write_text(callee.read_text().replace("x + 1", "x + 5"), encoding="utf-8")

    stale = tmp_path / "stale"  # why: the warm cache as is still runs the old callee
    M.fresh_cache(warm, stale, tree, set())
    assert _call(tree, stale, "wi.caller.g(1), wi.other.h(1)") == "4 0", "numba tracks callees now"

    drop = M.dependents(M.import_graph(tree), "wi.callee")
    assert drop == {"wi.callee", "wi.caller"}
    M.fresh_cache(warm, fresh, tree, drop)
    kept = sorted(p.name for p in fresh.rglob("*.nbi"))
    assert kept and all(name.startswith("other.") for name in kept)
    assert _call(tree, fresh, "wi.caller.g(1), wi.other.h(1)") == "12 0"


def test_no_mutants_in_annotations_decorators_signatures_or_pragma_lines(tmp_path):
    _write(
        tmp_path / "wi" / "x.py",
        """
        from __future__ import annotations

        from numba import njit


        @njit(cache=True)
        def f(x: int | None = 3) -> float | None:
            y: int | None = x
            return y + 1


        def g(y):
            return y * 2  # pragma: no mutate


        def h(a, *, b):
            return a
        """,
    )
    found = {
        (m.line, m.function, m.short_op, m.after) for m in M.enumerate_mutants(tmp_path, "wi/x.py")
    }
    assert found == {
        (8, "f", "NumberReplacer", "def f(x: int | None = 4) -> float | None:"),
        (10, "f", "ReplaceBinaryOperator_Add_Sub", "return y - 1"),
        (10, "f", "NumberReplacer", "return y + 2"),
    }


def test_every_module_under_test_has_a_test_selection():
    """A module without selected tests would be reported as 'not run', never as killed."""
    for rel in M.target_modules([]):
        tests = M.selection(ROOT, rel)
        assert tests, f"{rel}: add its test files to SELECTION in scripts/mutants.py"
        assert all((ROOT / t).is_file() for t in tests)


def test_every_documented_equivalent_mutant_still_exists():
    """A key of scripts/mutants_equivalent.txt whose line was edited matches nothing any more:
    delete it (or re-document the new line's mutant)."""
    known = M.load_equivalents()
    assert all(reason for reason in known.values()), "every equivalent mutant says why"
    keys = {
        m.key
        for rel in sorted({key.split(" | ", 1)[0] for key in known})
        for m in M.enumerate_mutants(ROOT, rel)
    }
    assert sorted(set(known) - keys) == []
