"""Mutation testing of the science code (`make mutants`).

Every mutant is one small edit of one source line (``a + b`` -> ``a - b``, ``<`` -> ``<=``,
``1.0`` -> ``2.0``, ``for x in xs`` -> ``for x in []``, ...). A mutant is *killed* when the tests
that exercise its module fail, *survived* when they pass (a test is missing, or the mutant is
equivalent to the original), *timeout* when they use more than 3x the CPU time of the unmutated
run (an endless loop: counted as detected). Score = (killed + timeout) / (killed + timeout +
survived).

Why not ``mutmut run`` or ``cosmic-ray exec``: mutmut 3 rewrites every function into a trampoline
and skips decorated functions, which excludes every ``@njit`` kernel; cosmic-ray runs one test
command for every mutant and one mutant at a time. This runner uses cosmic-ray's mutation
operators (``cosmic_ray.mutating.mutate_code``: the exact edits ``cosmic-ray`` makes) and adds what
numba code needs:

* the tree is copied (tracked and untracked-not-ignored files, as they are in the working tree)
  to ``.mutants/w<i>/tree``, one copy per worker; mutants are written in the copy, never in the
  working tree, and tests run there with ``PYTHONPATH=<copy>`` so ``import wi`` is the copy;
* each module's mutants run only the few test files that exercise it (``SELECTION``);
* numba's on-disk cache does not notice when a kernel's *callee* changes in another file, so
  each mutant runs with a fresh copy of a warm cache from which the mutated module and every
  module importing it (transitively) are removed: the mutated kernels are always recompiled,
  everything else loads from the cache;
* tests run with ``NUMBA_BOUNDSCHECK=1``: an off-by-one index past an array's end raises
  instead of reading whatever lies there (such mutants survived without it);
* before a module's mutants, its selected tests must pass unmutated, and must fail when the
  module raises at import (a canary: proves the copy is what the tests import);
* the timeout is a CPU-time limit (RLIMIT_CPU), so a busy machine does not turn slow mutants
  into timeouts.

Usage (``make mutants MUTANTS_ARGS="..."``)::

    python scripts/mutants.py                                  # everything, 1 worker
    python scripts/mutants.py wi/sim/synapse.py --jobs 2
    python scripts/mutants.py wi/infer --max-mutants 100 --seed 1
    python scripts/mutants.py --max-per-module 10 --seed 1      # a quick sample of every module
    python scripts/mutants.py --list wi/infer/metrics.py       # print the mutants, run nothing

The summary table goes to stdout; the full results (every mutant, its outcome, the surviving
diffs) to ``.mutants/report.txt``. Documented equivalent mutants (``scripts/mutants_equivalent.txt``)
are reported as ``equivalent`` rather than ``survived``. Exit status: 0 when no mutant survived,
1 when some did, 2 on bad arguments or when a module's tests fail before any mutation, 130 when
interrupted (Ctrl-C, SIGTERM: the running tests are killed, the mutants run so far reported).
Mutants on a line holding ``# pragma: no mutate`` are not generated.
"""

from __future__ import annotations

import argparse
import ast as pyast
import concurrent.futures
import fcntl
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutants"
EQUIVALENT_FILE = ROOT / "scripts" / "mutants_equivalent.txt"
DEFAULT_PATHS = ("wi/sim", "wi/infer", "wi/autoencoder/model.py")

ESTIMATOR_TESTS = (
    "test_infer_methods.py",
    "test_infer_chunks.py",
    "test_infer_science.py",
    "faults/test_library_boundary.py",
    "faults/test_library_boundary_edges.py",
)
# module -> test files (globs under tests/) that exercise it; any test file whose name contains
# the module's stem (tests/test_*synapse*.py) is added automatically.
SELECTION = {
    "wi/sim/synapse.py": ["test_sim_synapse.py", "test_engine.py", "test_sim_golden.py"],
    "wi/sim/neuron.py": ["test_sim_lif.py", "test_engine.py", "test_sim_golden.py"],
    "wi/sim/engine.py": ["test_engine.py", "test_sim_network.py", "test_sim_golden.py"],
    "wi/sim/network.py": ["test_sim_network.py", "test_sim_wiener.py", "test_sim_golden.py"],
    "wi/net/protocol.py": ["test_engine.py", "test_sim_network.py", "test_sim_golden.py"],
    "wi/net/presets.py": ["test_sim_network.py", "test_sim_wiener.py", "test_sim_golden.py"],
    "wi/net/connectivity.py": ["test_net_connectivity.py", "test_engine.py"],
    "wi/sim/stimulus.py": ["test_sim_stimulus.py", "test_sim_network.py", "test_sim_golden.py"],
    "wi/sim/wiener.py": ["test_sim_wiener.py", "test_sim_golden.py"],
    "wi/sim/config.py": [
        "test_config.py",
        "faults/test_bad_config.py",
        "test_sim_network.py",
        "test_memory_terms.py",
    ],
    "wi/infer/akrout.py": [*ESTIMATOR_TESTS],
    "wi/infer/bayes.py": [*ESTIMATOR_TESTS],
    "wi/infer/rdd.py": [*ESTIMATOR_TESTS],
    "wi/infer/stdwi.py": [*ESTIMATOR_TESTS, "test_infer_sparse.py"],
    "wi/infer/base.py": [*ESTIMATOR_TESTS, "test_infer_driver.py"],
    "wi/infer/protocol.py": ["test_infer_science.py", "test_infer_driver.py"],
    "wi/infer/metrics.py": [
        "test_infer_metrics_edges.py",
        "test_infer_driver.py",
        "test_infer_e2e.py",
        "test_infer_sparse.py",
    ],
    "wi/infer/history.py": ["test_infer_driver.py", "test_infer_e2e.py", "test_infer_history.py"],
    "wi/infer/pairs.py": ["test_infer_pairs.py", "test_infer_sparse.py", "test_infer_driver.py"],
    "wi/infer/driver.py": ["test_infer_driver.py", "test_infer_science.py", "test_infer_e2e.py"],
    "wi/infer/noise.py": ["test_infer_noise.py", "test_infer_driver.py"],
    "wi/infer/params.py": ["test_config.py", "faults/test_bad_config.py", "test_infer_driver.py"],
    "wi/autoencoder/model.py": ["test_autoencoder_model.py", "test_autoencoder_experiments.py"],
    "wi/nwb/reader.py": ["test_nwb_reader.py", "test_nwb_infer.py", "test_truth_data.py"],
    "wi/nwb/infer.py": ["test_nwb_infer.py", "test_bench_truth.py"],
    "wi/nwb/export.py": ["test_nwb_export.py"],
    "wi/bench_truth.py": ["test_bench_truth.py"],
    "wi/infer/glm.py": ["test_infer_glm.py", "test_infer_metrics_detection.py"],
    "wi/infer/names.py": ["test_infer_metrics_detection.py", "test_config.py", "test_show.py"],
    "wi/store/spool.py": ["test_store.py", "test_store_spool_keys.py", "test_record_spikes.py"],
}
#: Modules whose tests are exactly their SELECTION (their stem would match too many files:
#: tests/test_*infer*.py is every inference test).
ONLY_SELECTED = {"wi/nwb/infer.py"}

# The mutation operators (cosmic-ray names). One natural replacement per site rather than all
# eleven binary operators: the others are mostly type errors that cost a numba compile each.
# Not used: RemoveDecorator (dropping @njit gives the same numbers, only slower: equivalent by
# construction), VariableReplacer/VariableInserter (random, need arguments).
OPERATORS = (
    "core/ReplaceBinaryOperator_Add_Sub",
    "core/ReplaceBinaryOperator_Sub_Add",
    "core/ReplaceBinaryOperator_Mul_Div",
    "core/ReplaceBinaryOperator_Div_Mul",
    "core/ReplaceBinaryOperator_FloorDiv_Div",
    "core/ReplaceBinaryOperator_Mod_FloorDiv",
    "core/ReplaceBinaryOperator_Pow_Mul",
    "core/ReplaceBinaryOperator_BitAnd_BitOr",
    "core/ReplaceBinaryOperator_BitOr_BitAnd",
    "core/ReplaceBinaryOperator_BitXor_BitOr",
    "core/ReplaceBinaryOperator_LShift_RShift",
    "core/ReplaceBinaryOperator_RShift_LShift",
    "core/ReplaceComparisonOperator_Eq_NotEq",
    "core/ReplaceComparisonOperator_NotEq_Eq",
    "core/ReplaceComparisonOperator_Lt_LtE",
    "core/ReplaceComparisonOperator_LtE_Lt",
    "core/ReplaceComparisonOperator_Gt_GtE",
    "core/ReplaceComparisonOperator_GtE_Gt",
    "core/ReplaceComparisonOperator_Is_IsNot",
    "core/ReplaceComparisonOperator_IsNot_Is",
    "core/ReplaceUnaryOperator_USub_UAdd",
    "core/ReplaceUnaryOperator_Delete_Not",
    "core/AddNot",
    "core/ReplaceTrueWithFalse",
    "core/ReplaceFalseWithTrue",
    "core/ReplaceAndWithOr",
    "core/ReplaceOrWithAnd",
    "core/ReplaceBreakWithContinue",
    "core/ReplaceContinueWithBreak",
    "core/NumberReplacer",  # only its first edit, n -> n + 1 (the second, n - 1, is skipped)
    "core/ZeroIterationForLoop",
    "core/ExceptionReplacer",
)
PRAGMA = "pragma: no mutate"


@dataclass
class Mutant:
    path: str  # relative to the tree, posix
    operator: str
    occurrence: int
    line: int
    function: str
    before: str  # the original source line (stripped)
    after: str  # the mutated source line (stripped)
    outcome: str = ""
    seconds: float = 0.0
    output: str = ""
    killer: str = ""  # the first failing test (pytest -x stops there)
    key: str = field(default="", repr=False)

    @property
    def short_op(self) -> str:
        return self.operator.split("/", 1)[1]

    def describe(self) -> str:
        return f"{self.path}:{self.line} ({self.function}) [{self.short_op}]"


def _show(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def die(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(2)


# --------------------------------------------------------------------------------------------
# the tree copy


def tree_files(root: Path) -> list[str]:
    """Tracked and untracked-not-ignored files as they are in the working tree."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    skip = [_show(SCRATCH) + "/"] if SCRATCH.is_relative_to(root) else []
    # virtual environments that are not ignored (e.g. a second venv for an oracle)
    skip += [p.parent.name + "/" for p in root.glob("*/pyvenv.cfg")]
    return sorted(
        {
            f
            for f in out.split("\0")
            if f and not any(f.startswith(s) for s in skip) and (root / f).is_file()
        }
    )


def make_scratch():
    """`.mutants/` with a `.gitignore` of `*` (git, ruff and pytest leave the copies alone),
    locked for this run: returns the open lock file (keep it open)."""
    SCRATCH.mkdir(exist_ok=True)
    (SCRATCH / ".gitignore").write_text("*\n", encoding="utf-8")
    lock = open(SCRATCH / "lock", "w")  # noqa: SIM115 (held until exit)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        die(f"{SCRATCH}: another scripts/mutants.py is running there")
    return lock


def copy_tree(root: Path, files: list[str], dest: Path) -> None:
    """Copy `files` with their mtimes (the numba cache and .pyc are keyed by mtime and size)."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


# --------------------------------------------------------------------------------------------
# enumerating mutants


def _in_annotation(node) -> bool:
    """True for a node inside a type annotation (strings under `from __future__ import
    annotations`: mutating them changes nothing)."""
    child, parent = node, node.parent
    while parent is not None:
        kids = parent.children
        if parent.type == "annassign" and kids[0] == ":" and child is kids[1]:
            return True
        if parent.type == "tfpdef" or (parent.type == "param" and len(kids) >= 3):
            if parent.type == "tfpdef" and child is kids[-1]:
                return True
            if parent.type == "param":
                for i, k in enumerate(kids[:-1]):
                    if k == ":" and kids[i + 1] is child:
                        return True
        if parent.type == "funcdef":
            for i, k in enumerate(kids[:-1]):
                if k == "->" and kids[i + 1] is child:
                    return True
        child, parent = parent, parent.parent
    return False


def _param_marker(node) -> bool:
    """The bare `*` (keyword-only) or `/` (positional-only) of a parameter list, which
    cosmic-ray takes for a binary operator: `*,` -> `/,` is a signature edit, not arithmetic."""
    parent = node.parent
    return (
        getattr(node, "type", "") == "operator"
        and node.value in ("*", "/")
        and parent is not None
        and parent.type in ("parameters", "param", "typedargslist", "varargslist", "lambdef")
    )


def _in_decorator(node) -> bool:
    """True inside a decorator: `@njit(cache=True)` -> `cache=False` only stops caching."""
    parent = node.parent
    while parent is not None:
        if parent.type in ("decorator", "decorators"):
            return True
        parent = parent.parent
    return False


def _definition(node) -> str:
    names = []
    parent = node.parent
    while parent is not None:
        if parent.type in ("funcdef", "classdef"):
            names.append(parent.name.value)
        parent = parent.parent
    return ".".join(reversed(names)) or "<module>"


def enumerate_mutants(tree: Path, rel: str) -> list[Mutant]:
    import cosmic_ray.plugins
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code

    source = (tree / rel).read_text(encoding="utf-8")
    lines = source.split("\n")
    no_mutate = {i + 1 for i, text in enumerate(lines) if PRAGMA in text}
    found = []
    for name in OPERATORS:
        operator = cosmic_ray.plugins.get_operator(name)()
        occurrence = 0
        for node in ast_nodes(get_ast(source)):
            for index, _ in enumerate(operator.mutation_positions(node)):
                this, occurrence = occurrence, occurrence + 1
                if name == "core/NumberReplacer" and index != 0:
                    continue
                line = node.start_pos[0]
                if (
                    line in no_mutate
                    or _in_annotation(node)
                    or _in_decorator(node)
                    or _param_marker(node)
                ):
                    continue
                mutated = mutate_code(source, operator, this)
                if mutated is None or mutated == source:
                    continue
                new_lines = mutated.split("\n")
                # the changed line(s): compare line by line (mutations never add lines)
                changed = [
                    i for i, (a, b) in enumerate(zip(lines, new_lines, strict=False)) if a != b
                ]
                at = changed[0] if changed else line - 1
                found.append(
                    Mutant(
                        path=rel,
                        operator=name,
                        occurrence=this,
                        line=at + 1,
                        function=_definition(node),
                        before=lines[at].strip(),
                        after=new_lines[at].strip() if at < len(new_lines) else "",
                    )
                )
    for m in found:
        m.key = f"{m.path} | {m.function} | {m.short_op} | {m.before} -> {m.after}"
    return found


def load_equivalents() -> dict[str, str]:
    """Documented equivalent mutants: `key  # reason` lines of scripts/mutants_equivalent.txt."""
    known = {}
    if EQUIVALENT_FILE.exists():
        for raw in EQUIVALENT_FILE.read_text(encoding="utf-8").splitlines():
            if not raw.strip() or raw.startswith("#"):
                continue
            key, _, reason = raw.partition("  # ")
            known[key.strip()] = reason.strip()
    return known


# --------------------------------------------------------------------------------------------
# numba cache bookkeeping


def module_name(rel: str) -> str:
    return rel[: -len(".py")].replace("/", ".").removesuffix(".__init__")


def import_graph(tree: Path) -> dict[str, set[str]]:
    """module -> modules of `wi` it imports (static, function-level imports included)."""
    graph = {}
    for path in sorted((tree / "wi").rglob("*.py")):
        rel = path.relative_to(tree).as_posix()
        mod = module_name(rel)
        deps = set()
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, pyast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, pyast.Import):
                deps.update(a.name for a in node.names)
        graph[mod] = {d for d in deps if d.startswith("wi")}
    return graph


def dependents(graph: dict[str, set[str]], mod: str) -> set[str]:
    """`mod` and every module that imports it, directly or not."""
    out, todo = {mod}, [mod]
    while todo:
        cur = todo.pop()
        for other, deps in graph.items():
            if other not in out and cur in deps:
                out.add(other)
                todo.append(other)
    return out


def fresh_cache(pristine: Path, dest: Path, tree: Path, drop: set[str]) -> None:
    """Copy the warm cache to `dest` without the entries of the modules in `drop`.

    numba (0.5x-0.6x) keeps the kernels of `<dir>/<stem>.py` under NUMBA_CACHE_DIR in
    `<dir name>_<hash of the dir path>/<stem>.<function>-<line>.pyXY.{nbi,nbc}`; a name clash
    with another directory of the same name only drops more (recompiled, never stale).
    """
    if dest.exists():
        shutil.rmtree(dest)
    dropped: dict[str, set[str]] = {}
    for mod in drop:
        parts = mod.split(".")
        is_package = (tree.joinpath(*parts) / "__init__.py").exists()
        directory, stem = (parts[-1], "__init__") if is_package else (parts[-2], parts[-1])
        dropped.setdefault(directory, set()).add(stem + ".")
    if not pristine.exists():
        dest.mkdir(parents=True)
        return

    def ignore(directory, names):
        if Path(directory) == pristine:
            return []
        prefixes = dropped.get(Path(directory).name.rsplit("_", 1)[0], set())
        return [n for n in names if any(n.startswith(p) for p in prefixes)]

    shutil.copytree(pristine, dest, ignore=ignore)


# --------------------------------------------------------------------------------------------
# running tests


def selection(tree: Path, rel: str) -> list[str]:
    tests = tree / "tests"
    chosen = []
    auto = [] if rel in ONLY_SELECTED else [f"test_*{Path(rel).stem}*.py"]
    for pattern in SELECTION.get(rel, []) + auto:
        for path in sorted(tests.glob(pattern)):
            name = path.relative_to(tree).as_posix()
            if name not in chosen:
                chosen.append(name)
    return chosen


STOP = threading.Event()  # set on Ctrl-C / SIGTERM: no new test run starts
LIVE: set[subprocess.Popen] = set()  # running test processes, killed on interrupt


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_pytest(tree: Path, cache: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    """(outcome, seconds, output): outcome is passed / failed / timeout / stopped.

    `timeout` is a limit of CPU seconds per process (RLIMIT_CPU: SIGXCPU), so that a loaded
    machine does not turn slow mutants into timeouts while an endless loop, which burns CPU, is
    stopped at the limit; 4 x `timeout` of wall-clock time is the backstop (a process that hangs
    without using CPU)."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(tree),
        NUMBA_CACHE_DIR=str(cache),
        PYTHONDONTWRITEBYTECODE="1",
        # an off-by-one read past an array's end raises instead of reading garbage (the warm
        # cache is built with the same setting)
        NUMBA_BOUNDSCHECK="1",
        MPLBACKEND="Agg",
    )
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    cpu = max(1, math.ceil(timeout))

    def limit_cpu():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 10))

    start = time.monotonic()
    if STOP.is_set():
        return "stopped", 0.0, ""
    proc = subprocess.Popen(
        cmd,
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed whole on timeout
        preexec_fn=limit_cpu,
    )
    LIVE.add(proc)
    try:
        out, _ = proc.communicate(timeout=4 * timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, _ = proc.communicate()
        return "timeout", time.monotonic() - start, out.decode(errors="replace")
    finally:
        LIVE.discard(proc)
    if STOP.is_set():
        return "stopped", 0.0, ""
    seconds = time.monotonic() - start
    text = out.decode(errors="replace")
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout", seconds, text
    return ("passed" if proc.returncode == 0 else "failed"), seconds, text


class Worker:
    """One copy of the tree, its warm numba cache and a scratch cache for the current mutant."""

    def __init__(self, index: int, files: list[str]):
        self.base = SCRATCH / f"w{index}"
        self.tree = self.base / "tree"
        self.pristine = self.base / "numba-warm"
        self.cache = self.base / "numba-mutant"
        copy_tree(ROOT, files, self.tree)
        if self.pristine.exists():
            shutil.rmtree(self.pristine)
        self.graph = import_graph(self.tree)

    def baseline(self, rel: str, tests: list[str]) -> tuple[str, float, str]:
        """Unmutated run: checks the selection passes, warms the cache, and checks that the
        tests import the copy (canary). Its CPU time (every kernel compiled: an upper bound of a
        mutant's run, which recompiles only the mutated module and its importers) sets the
        timeout."""
        self.pristine.mkdir(parents=True, exist_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = run_pytest(self.tree, self.pristine, tests, 1800)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds of the run and its subprocesses (with --jobs > 1 the other workers' too:
        # an overestimate, the safe side for a timeout)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result = (result[0], cpu, result[2])
        if result[0] == "passed":
            drop = dependents(self.graph, module_name(rel))
            fresh_cache(self.pristine, self.cache, self.tree, drop)
            if not self.canary(rel, tests):
                return (
                    "passed-with-canary",
                    0.0,
                    f"the tests passed with {rel} raising at import in {self.tree}: they do not "
                    "import that copy (PYTHONPATH?) or do not use the module",
                )
        return result

    def canary(self, rel: str, tests: list[str]) -> bool:
        """The copy is what the tests import: with the module raising at import they fail."""
        path = self.tree / rel
        original = path.read_bytes()
        stat = path.stat()
        try:
            path.write_bytes(original + b"\nraise RuntimeError('mutants.py canary')\n")
            outcome, _, out = run_pytest(self.tree, self.cache, tests, 600)
        finally:
            path.write_bytes(original)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        return outcome == "failed" and "mutants.py canary" in out

    def run(self, mutant: Mutant, tests: list[str], timeout: float) -> None:
        import cosmic_ray.plugins
        from cosmic_ray.mutating import mutate_code

        path = self.tree / mutant.path
        original = path.read_bytes()
        stat = path.stat()
        source = original.decode("utf-8")
        operator = cosmic_ray.plugins.get_operator(mutant.operator)()
        mutated = mutate_code(source, operator, mutant.occurrence)
        if mutated is None or mutated.split("\n")[mutant.line - 1].strip() != mutant.after:
            mutant.outcome, mutant.output = "error", "the mutation no longer applies"
            return
        fresh_cache(
            self.pristine, self.cache, self.tree, dependents(self.graph, module_name(mutant.path))
        )
        try:
            path.write_text(mutated, encoding="utf-8")
            outcome, mutant.seconds, out = run_pytest(self.tree, self.cache, tests, timeout)
        finally:
            path.write_bytes(original)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        if outcome == "stopped":
            return  # not run: the run was interrupted
        mutant.outcome = {"failed": "killed", "passed": "survived"}.get(outcome, outcome)
        mutant.output = out[-3000:]
        failed = [ln.split()[1] for ln in out.splitlines() if ln.startswith(("FAILED ", "ERROR "))]
        mutant.killer = failed[0] if failed and outcome == "failed" else ""


# --------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/mutants.py",
        description="Mutation testing of wi/sim, wi/infer and wi/autoencoder/model.py in a copy.",
    )
    p.add_argument(
        "paths", nargs="*", help=f"files or directories (default: {' '.join(DEFAULT_PATHS)})"
    )
    p.add_argument("--jobs", "-j", type=int, default=1, help="parallel workers (default 1)")
    p.add_argument("--max-mutants", type=int, default=0, help="random sample of N mutants in all")
    p.add_argument("--max-per-module", type=int, default=0, help="random sample of N per module")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument(
        "--timeout-factor", type=float, default=3.0, help="x the baseline's CPU time (default 3)"
    )
    p.add_argument("--timeout-min", type=float, default=20.0, help="CPU seconds (default 20)")
    p.add_argument(
        "--only-keys",
        type=Path,
        help="run only the mutants whose key is in this file (e.g. a previous report.txt: its "
        "`key: ...` lines; re-checks earlier survivors against today's tests)",
    )
    p.add_argument("--list", action="store_true", help="print the mutants and exit")
    p.add_argument(
        "--scratch", type=Path, default=SCRATCH, help="work directory (default .mutants)"
    )
    args = p.parse_args(argv)
    if args.jobs < 1 or args.max_mutants < 0 or args.max_per_module < 0 or args.timeout_factor <= 0:
        die("--jobs must be >= 1, --max-* >= 0, --timeout-factor > 0")
    return args


def read_keys(path: Path) -> set[str]:
    """Mutant keys listed in ``path``: the ``key: ...`` lines of a report, or one key a line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        die(f"--only-keys {path}: {exc.strerror}")
    keys = set()
    for line in lines:
        line = line.strip()
        if line.startswith("key: "):
            keys.add(line.removeprefix("key: "))
        elif line.count(" | ") >= 3 and not line.startswith("#"):
            keys.add(line)
    return keys


def target_modules(paths: list[str]) -> list[str]:
    out = []
    for raw in paths or DEFAULT_PATHS:
        p = (ROOT / raw).resolve()
        if not p.exists():
            die(f"{raw}: no such file or directory")
        try:
            rel = p.relative_to(ROOT)
        except ValueError:
            die(f"{raw}: not inside {ROOT}")
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            r = f.relative_to(ROOT).as_posix()
            if r.endswith("__init__.py") or "__pycache__" in r:
                continue
            if r not in out:
                out.append(r)
        del rel
    return out


def main(argv: list[str] | None = None) -> int:
    global SCRATCH
    args = parse_args(sys.argv[1:] if argv is None else argv)
    SCRATCH = args.scratch.resolve()
    if ROOT.is_relative_to(SCRATCH):
        die(f"--scratch {args.scratch}: must not contain the repository")
    modules = target_modules(args.paths)
    files = tree_files(ROOT)
    missing = [m for m in modules if m not in files]
    if missing:
        die(f"{missing[0]}: not a tracked or untracked-not-ignored file")
    mutants: list[Mutant] = []
    if args.list:
        tree0 = ROOT  # read only
    else:
        lock = make_scratch()  # noqa: F841 (held until exit)
        workers = [Worker(0, files)]
        tree0 = workers[0].tree
    total_candidates = 0
    for rel in modules:
        found = enumerate_mutants(tree0, rel)
        total_candidates += len(found)
        if args.max_per_module and len(found) > args.max_per_module:
            found = sorted(
                random.Random(f"{args.seed}:{rel}").sample(found, args.max_per_module), key=_order
            )
        mutants.extend(found)
    if args.max_mutants and len(mutants) > args.max_mutants:
        mutants = sorted(random.Random(args.seed).sample(mutants, args.max_mutants), key=_order)
    if args.only_keys is not None:
        wanted = read_keys(args.only_keys)
        mutants = [m for m in mutants if m.key in wanted]
    if args.list:
        for m in mutants:
            print(f"{m.describe()}\n    - {m.before}\n    + {m.after}")
        print(f"{len(mutants)} mutants (of {total_candidates} candidates)")
        return 0

    equivalents = load_equivalents()
    for i in range(1, args.jobs):
        workers.append(Worker(i, files))
    by_module: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_module.setdefault(m.path, []).append(m)
    print(
        f"{len(mutants)} mutants (of {total_candidates} candidates) in {len(by_module)} modules, "
        f"{args.jobs} worker(s), copies in {_show(SCRATCH)}/",
        flush=True,
    )

    tests_of = {rel: selection(tree0, rel) for rel in by_module}
    timeouts: dict[str, float] = {}
    broken: dict[str, str] = {}
    lock = threading.Lock()
    done = [0]
    start = time.monotonic()

    def baseline(rel: str) -> None:
        tests = tests_of[rel]
        if not tests:
            broken[rel] = "no test file selected (add it to SELECTION in scripts/mutants.py)"
            return
        with concurrent.futures.ThreadPoolExecutor(len(workers)) as warm:  # each its own cache
            results = list(warm.map(lambda w: w.baseline(rel, tests), workers))
        for outcome, _, out in results:
            if outcome != "passed":
                broken[rel] = f"the selected tests {outcome} without any mutation:\n{out[-3000:]}"
                return
        seconds = max(r[1] for r in results)
        timeouts[rel] = max(args.timeout_min, args.timeout_factor * seconds)
        print(
            f"  {rel}: {len(by_module[rel])} mutants, tests {' '.join(tests)}; baseline "
            f"{seconds:.0f} CPU s, timeout {timeouts[rel]:.0f} CPU s",
            flush=True,
        )

    free = list(workers)

    def run_one(m: Mutant) -> None:
        with lock:
            worker = free.pop()
        try:
            worker.run(m, tests_of[m.path], timeouts[m.path])
        finally:
            with lock:
                free.append(worker)
        if m.outcome == "survived" and m.key in equivalents:
            m.outcome = "equivalent"
        with lock:
            done[0] += 1
            tag = {"killed": ".", "survived": "S", "timeout": "T", "equivalent": "e"}.get(
                m.outcome, "E"
            )
            print(
                f"[{done[0]}/{len(mutants)} {time.monotonic() - start:.0f}s] {tag} {m.describe()}  "
                f"{m.before}  ->  {m.after}"
                if m.outcome != "killed"
                else f"[{done[0]}/{len(mutants)} {time.monotonic() - start:.0f}s] . {m.describe()}",
                flush=True,
            )

    interrupted = False
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        for rel in by_module:
            baseline(rel)
            if rel in broken:
                print(f"  {rel}: SKIPPED: {broken[rel].splitlines()[0]}", flush=True)
                continue
            pool = concurrent.futures.ThreadPoolExecutor(args.jobs)
            try:
                list(pool.map(run_one, by_module[rel]))
            except KeyboardInterrupt:
                STOP.set()  # the running mutants return at once, the queued ones never start
                for proc in list(LIVE):
                    _kill(proc)
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    except KeyboardInterrupt:
        interrupted = True
        STOP.set()
        for proc in list(LIVE):
            _kill(proc)
        print("interrupted: reporting the mutants run so far", file=sys.stderr)

    report = render(by_module, tests_of, broken, equivalents, time.monotonic() - start)
    (SCRATCH / "report.txt").write_text(report, encoding="utf-8")
    print(report.split("\n== equivalent mutants", 1)[0])
    print(f"full report: {_show(SCRATCH / 'report.txt')}")
    if interrupted:
        return 130
    if broken:
        return 2
    return 1 if any(m.outcome == "survived" for m in mutants) else 0


def _order(m: Mutant) -> tuple:
    return (m.path, m.line, m.operator, m.occurrence)


def render(by_module, tests_of, broken, equivalents, seconds) -> str:
    out = [f"mutation testing: {seconds / 60:.1f} min", ""]
    header = f"{'module':32} {'killed':>6} {'survived':>8} {'timeout':>7} {'equiv':>5} {'error':>5} {'score':>6}"
    out += [header, "-" * len(header)]
    totals = dict.fromkeys(("killed", "survived", "timeout", "equivalent", "error"), 0)
    for rel, ms in by_module.items():
        if rel in broken:
            out.append(f"{rel:32} not run: {broken[rel].splitlines()[0]}")
            continue
        c = dict.fromkeys(totals, 0)
        for m in ms:
            if m.outcome:
                key = m.outcome if m.outcome in c else "error"
                c[key] += 1
        for k in totals:
            totals[k] += c[k]
        out.append(_row(rel, c))
    out += ["-" * len(header), _row("total", totals), ""]
    out.append(
        "score = (killed + timeout) / (killed + timeout + survived); equivalent mutants excluded"
    )
    out.append("")
    out.append(
        "== surviving mutants (a test is missing, or add the mutant to scripts/mutants_equivalent.txt)"
    )
    for ms in by_module.values():
        for m in ms:
            if m.outcome == "survived":
                out += [
                    f"{m.describe()}",
                    f"    - {m.before}",
                    f"    + {m.after}",
                    f"    key: {m.key}",
                ]
    out.append("")
    out.append("== equivalent mutants (documented)")
    for ms in by_module.values():
        for m in ms:
            if m.outcome == "equivalent":
                out.append(f"{m.describe()}: {m.before} -> {m.after}: {equivalents[m.key]}")
    out.append("")
    out.append("== errors")
    for ms in by_module.values():
        for m in ms:
            if m.outcome == "error":
                out.append(
                    f"{m.describe()}: {m.output.strip().splitlines()[-1] if m.output.strip() else ''}"
                )
    for rel, why in broken.items():
        out += [f"{rel}: {why}"]
    out.append("")
    out.append("== all mutants")
    for rel, ms in by_module.items():
        out.append(f"{rel}: tests {' '.join(tests_of.get(rel, []))}")
        for m in ms:
            by = f"  [{m.killer}]" if m.killer else ""
            out.append(
                f"  {m.outcome or 'not run':10} {m.seconds:5.1f}s {m.describe()}: {m.before}  ->  "
                f"{m.after}{by}"
            )
    return "\n".join(out) + "\n"


def _row(name: str, c: dict) -> str:
    detected = c["killed"] + c["timeout"]
    scored = detected + c["survived"]
    score = f"{100 * detected / scored:5.1f}%" if scored else "    -"
    return (
        f"{name:32} {c['killed']:6d} {c['survived']:8d} {c['timeout']:7d} {c['equivalent']:5d} "
        f"{c['error']:5d} {score:>6}"
    )


if __name__ == "__main__":
    sys.exit(main())
