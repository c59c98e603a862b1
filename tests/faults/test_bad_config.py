"""Bad configs fail before any work: exit 2, ONE line ``error: <file>: <key>: ...``, no
traceback, no file left behind.

The field walks below enumerate every numeric field of every config kind from the pydantic
models themselves, so a field added later is covered without editing this file.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import types
import typing
import warnings
from pathlib import Path

import h5py
import pytest
from pydantic import BaseModel

from wi import config, memory
from wi.cli import main
from wi.errors import UserError

WI = str(Path(sys.executable).parent / "wi")
SMALL_LIF = "kind: lif_feedforward\nduration_ms: 1000\n"
SMALL_WIENER = "kind: wiener\nduration_ms: 1000\nnetwork: {n_pairs: 5}\n"
SMALL_AE = "kind: autoencoder\nduration_ms: 600\nstimulus: {start_ms: 100, stop_ms: 500}\n"


# ----------------------------------------------------------------------------- harness
def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def wi_inproc(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``wi.cli.main`` (the console entry point) in this process."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    cap = capsys.readouterr()
    return info.value.code, cap.out, cap.err


def wi_subprocess(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run the installed ``wi`` command, as a user does."""
    proc = subprocess.run(
        [WI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=os.environ
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code: int, err: str, file: str, key: str, *words: str) -> str:
    """Exit 2 and exactly one stderr line ``error: <file>: <key>: ...`` (no traceback)."""
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    head = f"error: {file}: {key}: "
    assert lines[0].startswith(head), (head, lines[0])
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------- model walk
def _union_args(ann) -> list:
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(ann) if a is not type(None)]
    return [ann]


def _leaf_kind(ann) -> str | None:
    """'float', 'int', 'floats' (a list/tuple of floats), 'model', 'models' or None."""
    for a in _union_args(ann):
        origin = typing.get_origin(a)
        if origin is typing.Annotated:
            a = typing.get_args(a)[0]
            origin = typing.get_origin(a)
        if a is float:
            return "float"
        if a is int:
            return "int"
        if isinstance(a, type) and issubclass(a, BaseModel):
            return "model"
        if origin in (list, tuple):
            inner = typing.get_args(a)[0]
            if typing.get_origin(inner) is typing.Annotated:
                inner = typing.get_args(inner)[0]
            if inner is float or typing.get_origin(inner) in (list, tuple):
                return "floats"
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return "models"
    return None


def _submodel(ann) -> type[BaseModel]:
    for a in _union_args(ann):
        inner = typing.get_args(a)[0] if typing.get_origin(a) in (list, tuple) else a
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    raise AssertionError(ann)


def numeric_fields(model: type[BaseModel], prefix: tuple = ()) -> list[tuple[tuple, str, object]]:
    """Every numeric leaf of ``model``: (path, 'float' | 'int' | 'floats', annotation). A list
    of sub-models contributes its element 0."""
    out = []
    for name, field in model.model_fields.items():
        kind = _leaf_kind(field.annotation)
        path = (*prefix, name)
        if kind == "model":
            out += numeric_fields(_submodel(field.annotation), path)
        elif kind == "models":
            out += numeric_fields(_submodel(field.annotation), (*path, 0))
        elif kind is not None:
            out.append((path, kind, field.annotation))
    return out


def _required_filler(model: type[BaseModel]) -> dict:
    """Valid values for the required fields of a list item (e.g. a stimulus segment)."""
    return {n: 1.0 for n, f in model.model_fields.items() if f.is_required()}


#: Keys a kind needs besides ``kind`` (a network needs a population and its input).
BASES = {
    "network": {
        "populations": {"src": {"model": "poisson", "n": 2}, "lif": {"model": "lif", "n": 2}},
        "projections": {
            "src_lif": {
                "pre": "src",
                "post": "lif",
                "connectivity": {"rule": "all_to_all"},
                "weights": {"dist": "constant", "value": 1.0},
            }
        },
    }
}


def raw_with(kind: str, path: tuple, value) -> dict:
    """A minimal raw config of ``kind`` with ``value`` at ``path`` (list items created)."""
    import copy

    raw: dict = {"kind": kind, **copy.deepcopy(BASES.get(kind, {}))}
    node: dict = raw
    model: type[BaseModel] = config.MODELS[kind]
    parts = list(path)
    i = 0
    while i < len(parts) - 1:
        name = parts[i]
        ann = model.model_fields[name].annotation
        model = _submodel(ann)
        if i + 1 < len(parts) - 1 and isinstance(parts[i + 1], int):
            item = _required_filler(model)
            node[name] = [item]
            node = item
            i += 2
            continue
        node = node.setdefault(name, {})
        i += 1
    node[parts[-1]] = value
    return raw


def _bad(kind: str, ann, value):
    """``value`` shaped for a field of leaf kind ``kind`` (a list gets it as element 0)."""
    if kind != "floats":
        return value
    for a in _union_args(ann):
        if typing.get_origin(a) is tuple:
            return [value, 1.0]
        inner = typing.get_args(a)[0]
        if typing.get_origin(inner) in (list, tuple):
            return [[value, 1.0]]
    return [value, 1.0]


FIELDS = [
    (kind, path, leaf, ann)
    for kind, model in config.MODELS.items()
    for path, leaf, ann in numeric_fields(model)
]
FLOAT_FIELDS = [f for f in FIELDS if f[2] in ("float", "floats")]


def _id(case) -> str:
    return f"{case[0]}:{'.'.join(map(str, case[1]))}"


def test_the_walk_finds_the_fields_the_brief_names():
    names = {_id(f) for f in FLOAT_FIELDS}
    for expected in (
        "lif_feedforward:neuron.threshold",
        "lif_feedforward:neuron.drift",
        "lif_feedforward:weights.stim_scale",
        "lif_feedforward:observation_noise.jitter_ms",
        "lif_feedforward:infer.initial_guess.scale",
        "lif_feedforward:infer.methods.akrout.clip",
        "lif_feedforward:infer.methods.bayes.drift_per_ms",
        "wiener:neuron.diffusion_per_ms",
        "autoencoder:network.ring.weight_norms",
        "autoencoder:network.explicit.decoder_weights",
        "autoencoder:stimulus.segments.0.duration_ms",
    ):
        assert expected in names
    assert len(FLOAT_FIELDS) > 80 and len(FIELDS) > len(FLOAT_FIELDS) + 10


@pytest.mark.parametrize("case", FLOAT_FIELDS, ids=_id)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_every_float_field_rejects_non_finite(case, value):
    kind, path, leaf, ann = case
    raw = raw_with(kind, path, _bad(leaf, ann, value))
    with pytest.raises(UserError) as info:
        config.validate(raw, "c.yaml")
    key = ".".join(map(str, path))
    e = info.value
    assert e.file == "c.yaml" and e.key.startswith(key), str(e)
    assert "finite" in e.message, str(e)


@pytest.mark.parametrize("case", FIELDS, ids=_id)
def test_every_numeric_field_rejects_booleans(case):
    kind, path, leaf, ann = case
    raw = raw_with(kind, path, _bad(leaf, ann, True))
    with pytest.raises(UserError) as info:
        config.validate(raw, "c.yaml")
    assert info.value.key.startswith(".".join(map(str, path))), str(info.value)
    assert "boolean" in info.value.message, str(info.value)


def test_the_walk_builds_valid_configs():
    """The raw configs of the walk are valid with an ordinary number, so the rejections
    above are caused by the bad value, not by the scaffolding."""
    ok = 0
    for kind, path, leaf, ann in FLOAT_FIELDS:
        if path[-1] in ("seed",) or "clip" in path:
            continue
        raw = raw_with(kind, path, _bad(leaf, ann, 1.0))
        try:
            config.validate(raw, "c.yaml")
            ok += 1
        except UserError as e:  # 1.0 may break a cross-field rule; never a finiteness one
            assert "finite" not in e.message and "boolean" not in e.message
    assert ok > len(FLOAT_FIELDS) // 2


def test_booleans_stay_booleans():
    cfg = config.validate(
        {"kind": "lif_feedforward", "record": {"voltages": True}, "observation_noise": {}}
    )
    assert cfg.record.voltages is True


# ----------------------------------------------------------------------------- 1. non-finite
@pytest.mark.parametrize(
    "text, key",
    [
        (SMALL_LIF + "neuron: {threshold: .nan}\n", "neuron.threshold"),
        (SMALL_LIF + "neuron: {drift: .inf}\n", "neuron.drift"),
        (SMALL_LIF + "weights: {stim_scale: .NaN}\n", "weights.stim_scale"),
        (SMALL_LIF + "observation_noise: {jitter_ms: .inf}\n", "observation_noise.jitter_ms"),
        (SMALL_LIF + "infer: {initial_guess: {scale: .inf}}\n", "infer.initial_guess.scale"),
        (SMALL_LIF + "stimulation: {rate_hz: -.inf}\n", "stimulation.rate_hz"),
        (SMALL_LIF + "duration_ms: 1e999\n", "duration_ms"),
        (SMALL_WIENER + "neuron: {diffusion_per_ms: .inf}\n", "neuron.diffusion_per_ms"),
        (SMALL_WIENER + "neuron: {drift_per_ms: -.Inf}\n", "neuron.drift_per_ms"),
        (SMALL_AE + "network: {mu: .nan}\n", "network.mu"),
    ],
)
def test_non_finite_yaml_is_one_line_exit_2(tmp_path, capsys, monkeypatch, text, key):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text.replace("duration_ms: 1000\nduration_ms", "duration_ms"))
    before = _files(tmp_path)
    code, out, err = wi_inproc(capsys, "validate", "c.yaml")
    assert_one_line_error(code, err, "c.yaml", key, "finite")
    assert _files(tmp_path) == before


@pytest.mark.parametrize("value", ["nan", ".nan", "inf", "-.inf", "-Infinity", "1e999"])
def test_non_finite_set_is_rejected(tmp_path, capsys, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(SMALL_LIF)
    code, out, err = wi_inproc(capsys, "validate", "c.yaml", "--set", f"neuron.threshold={value}")
    assert_one_line_error(code, err, "c.yaml (--set)", "neuron.threshold", "finite")


def test_wiener_infinite_diffusion_fails_fast_in_a_subprocess(tmp_path):
    """Once grew memory until the OOM killer: now exit 2 before any work."""
    (tmp_path / "w.yaml").write_text(SMALL_WIENER + "neuron: {diffusion_per_ms: .inf}\n")
    code, out, err = wi_subprocess(tmp_path, "simulate", "w.yaml", "-o", "out.h5")
    assert_one_line_error(code, err, "w.yaml", "neuron.diffusion_per_ms", "finite")
    assert _files(tmp_path) == {"w.yaml"}


# ----------------------------------------------------------------------------- 2. booleans
@pytest.mark.parametrize(
    "text, key",
    [
        (SMALL_LIF.replace("1000", "true"), "duration_ms"),
        (SMALL_LIF + "network: {n_input: true}\n", "network.n_input"),
        (SMALL_LIF + "seed: false\n", "seed"),
        (
            SMALL_LIF + "infer: {methods: {akrout: {clip: [false, 1]}}}\n",
            "infer.methods.akrout.clip",
        ),
        (SMALL_AE + "network: {ring: {weight_norms: [3, yes]}}\n", "network.ring.weight_norms"),
    ],
)
def test_booleans_are_not_numbers(tmp_path, capsys, monkeypatch, text, key):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    code, out, err = wi_inproc(capsys, "validate", "c.yaml")
    assert_one_line_error(code, err, "c.yaml", key, "boolean")


def test_boolean_duration_does_not_simulate(tmp_path):
    (tmp_path / "c.yaml").write_text(SMALL_LIF)
    code, out, err = wi_subprocess(
        tmp_path, "simulate", "c.yaml", "--set", "duration_ms=true", "-o", "out.h5"
    )
    assert_one_line_error(code, err, "c.yaml (--set)", "duration_ms", "boolean")
    assert _files(tmp_path) == {"c.yaml"}


# ----------------------------------------------------------------------------- 3. duplicates
@pytest.mark.parametrize(
    "text, key, line, first",
    [
        ("kind: lif_feedforward\nseed: 1\nduration_ms: 1000\nseed: 2\n", "seed", 4, 2),
        ("kind: lif_feedforward\nneuron:\n  tau_ms: 10\n  reset: -1\n  tau_ms: 20\n",
         "neuron.tau_ms", 5, 3),
        ("kind: wiener\nnetwork: {n_pairs: 5, n_pairs: 6}\n", "network.n_pairs", 2, 2),
        ("kind: lif_feedforward\ninfer:\n  methods:\n    stdwi: {}\n    stdwi: {decay: 1}\n",
         "infer.methods.stdwi", 5, 4),
        ("kind: autoencoder\nstimulus:\n  segments:\n  - {duration_ms: 5, magnitude: 1,"
         " magnitude: 2}\n", "stimulus.segments.0.magnitude", 4, 4),
    ],
)  # fmt: skip
def test_duplicate_keys_name_the_key_and_lines(tmp_path, capsys, monkeypatch, text, key, line,
                                               first):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    code, out, err = wi_inproc(capsys, "validate", "c.yaml")
    msg = assert_one_line_error(code, err, "c.yaml", key, "duplicate key")
    assert f"line {line} " in msg and f"first at line {first})" in msg, msg


def test_duplicate_keys_in_a_set_value_and_library_loaders(tmp_path):
    with pytest.raises(UserError) as info:
        config.parse_set(["neuron={tau_ms: 5, tau_ms: 6}"])
    e = info.value
    assert (e.file, e.key) == ("--set", "neuron.tau_ms") and "duplicate" in e.message
    p = tmp_path / "sweep.yaml"
    p.write_text("name: x\ngrid:\n  seed: [1, 2]\n  seed: [3]\n")
    with pytest.raises(UserError) as info:
        config.load_yaml_file(p)
    assert (info.value.file, info.value.key) == (str(p), "grid.seed")
    with pytest.raises(config.DuplicateKeyError):
        config.yaml_load("a: 1\na: 2\n")


def test_duplicate_key_in_a_stored_config_attribute(tmp_path):
    """A run file (written by the real pipeline) whose config attribute was corrupted to hold a
    key twice is reported on the attribute, not silently read."""
    from wi import pipeline

    cfg = config.validate({"kind": "wiener", "duration_ms": 50, "network": {"n_pairs": 3}})
    path = tmp_path / "r.h5"
    pipeline.simulate(cfg, path, command="test", quiet=True)
    assert config.read_raw(path)["kind"] == "wiener"
    with h5py.File(path, "a") as h5:
        h5.attrs["config"] = h5.attrs["config"] + "seed: 5\n"
    with pytest.raises(UserError) as info:
        config.read_raw(path)
    e = info.value
    assert e.file == f"{path} (config attribute)" and e.key == "seed" and "duplicate" in e.message


def test_yaml_loader_keeps_legal_yaml():
    assert config.yaml_load("a: 1e-3\nb: 1.0e+2\nc: 10\nd: .5\n") == {
        "a": 1e-3,
        "b": 100.0,
        "c": 10,
        "d": 0.5,
    }
    # anchors, aliases and merge keys are not duplicates
    data = config.yaml_load("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nagain: *b\n")
    assert data["use"] == {"x": 1, "y": 3} and data["again"] == {"x": 1, "y": 2}
    assert config.yaml_load("- {a: 1}\n- {a: 2}\n") == [{"a": 1}, {"a": 2}]
    assert config.yaml_load("") is None


# ----------------------------------------------------------------------------- 4. one line
@pytest.mark.parametrize("value", ["[1", "{a: 1", "'open", "a: b: c", "[1, 2]]"])
def test_bad_set_yaml_is_one_line(tmp_path, capsys, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(SMALL_LIF)
    code, out, err = wi_inproc(capsys, "validate", "c.yaml", "--set", f"duration_ms={value}")
    assert_one_line_error(code, err, "--set", "duration_ms", "YAML")


@pytest.mark.parametrize(
    "text, words",
    [
        ("kind: lif_feedforward\nseed: [1\n", ("line 3", "YAML syntax error")),
        ("kind: lif_feedforward\n\tseed: 1\n", ("YAML syntax error",)),
        ("kind: lif_feedforward\n---\nkind: wiener\n", ("YAML syntax error",)),
    ],
)
def test_bad_yaml_file_is_one_line(tmp_path, capsys, monkeypatch, text, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    code, out, err = wi_inproc(capsys, "validate", "c.yaml")
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: c.yaml: "), err
    assert all(w in lines[0] for w in words), lines[0]


def test_key_with_a_newline_stays_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text('kind: lif_feedforward\n"ne\\nuron": {}\n')
    code, out, err = wi_inproc(capsys, "validate", "c.yaml")
    assert code == 2 and len(err.splitlines()) == 1 and "unknown key" in err, err


# ----------------------------------------------------------------------------- 5. sizes
@pytest.mark.parametrize(
    "sets, file, key, words",
    [
        (["duration_ms=0.1"], "c.yaml (--set)", "duration_ms", ("shorter than one time step",)),
        (["duration_ms=0.12", "timestep_ms=0.25"], "c.yaml (--set)", "duration_ms", ("step",)),
        (["stimulation.period_ms=0.1"], "c.yaml (--set)", "stimulation.period_ms", ("step",)),
        (["stimulation.period_ms=0.2"], "c.yaml (--set)", "stimulation.period_ms", ("step",)),
        (
            ["infer.methods.akrout.stimulus_ms=0.1"],
            "c.yaml (--set)",
            "infer.methods.akrout.stimulus_ms",
            ("step",),
        ),
        (
            ["infer.check_interval_ms=0.1"],
            "c.yaml (--set)",
            "infer.check_interval_ms",
            ("step",),
        ),
        (["seed=-1"], "c.yaml (--set)", "seed", ("greater than or equal to 0",)),
        (["seed=1.5"], "c.yaml (--set)", "seed", ("integer",)),
        (["seed=true"], "c.yaml (--set)", "seed", ("boolean",)),
        (["seed=9223372036854775808"], "c.yaml (--set)", "seed", ("less than",)),
        (["infer.initial_guess.seed=-3"], "c.yaml (--set)", "infer.initial_guess.seed", ("0",)),
        (["infer.initial_guess.seed=0.5"], "c.yaml (--set)", "infer.initial_guess.seed", ()),
        (["infer.initial_guess.seed=yes"], "c.yaml (--set)", "infer.initial_guess.seed", ()),
        (
            ["infer.initial_guess.seed=4294967296"],
            "c.yaml (--set)",
            "infer.initial_guess.seed",
            ("4294967295",),
        ),
        (["duration_ms=1e300"], "c.yaml (--set)", "duration_ms", ("steps",)),
    ],
)
def test_impossible_sizes_and_seeds(tmp_path, capsys, monkeypatch, sets, file, key, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(SMALL_LIF)
    args = [a for s in sets for a in ("--set", s)]
    code, out, err = wi_inproc(capsys, "simulate", "c.yaml", "-o", "out.h5", *args)
    assert_one_line_error(code, err, file, key, *words)
    assert _files(tmp_path) == {"c.yaml"}


@pytest.mark.parametrize("key", ["tuning.adaptor_ms", "tuning.test_ms", "tilt.test_ms"])
def test_autoencoder_phases_shorter_than_a_step(tmp_path, capsys, monkeypatch, key):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(SMALL_AE)
    code, out, err = wi_inproc(
        capsys, "autoencoder", "c.yaml", "-o", "o.h5", "--set", f"{key}=0.001"
    )
    assert_one_line_error(code, err, "c.yaml (--set)", key, "shorter than one time step")
    assert _files(tmp_path) == {"c.yaml"}


def test_one_step_is_enough_half_a_step_is_not():
    one = config.validate({"kind": "lif_feedforward", "duration_ms": 0.25, "timestep_ms": 0.25})
    assert one.n_steps == 1
    with pytest.raises(UserError, match="shorter than one time step"):  # round(0.5) == 0
        config.validate({"kind": "lif_feedforward", "duration_ms": 0.125, "timestep_ms": 0.25})


# ----------------------------------------------------------------------------- 5. memory
@pytest.mark.parametrize(
    "text, sets, key",
    [
        (SMALL_LIF, ["network.n_input=1e9"], "network.n_input"),
        (SMALL_LIF, ["network.n_output=1e9"], "network.n_output"),
        (SMALL_LIF, ["record.voltages=true", "timestep_ms=1e-6"], "record.voltages"),
        (SMALL_LIF, ["infer.methods.akrout.batch_stimuli=1e12"], "infer.methods.akrout.batch_stimuli"),
        (SMALL_LIF, ["observation_noise.add_fraction=1e15"], "observation_noise.add_fraction"),
        (SMALL_LIF, ["duration_ms=1e12", "infer.check_interval_ms=0.25"],
         "infer.check_interval_ms"),
        (SMALL_WIENER, ["network.n_pairs=1e7"], "network.n_pairs"),
        (SMALL_WIENER, ["neuron.drift_per_ms=1e12"], "neuron.drift_per_ms"),
        (SMALL_WIENER, ["neuron.diffusion_per_ms=1e24"], "neuron.diffusion_per_ms"),
        (SMALL_AE, ["network.ring.n_orientations=1e10"], "network.ring.n_orientations"),
        (SMALL_AE, ["network.max_spikes_per_step=1e12"], "network.max_spikes_per_step"),
    ],
)  # fmt: skip
def test_absurd_sizes_name_the_key_and_the_estimate(tmp_path, capsys, monkeypatch, text, sets,
                                                    key):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    args = [a for s in sets for a in ("--set", s)]
    command = "autoencoder" if "autoencoder" in text else "simulate"
    code, out, err = wi_inproc(capsys, command, "c.yaml", "-o", "out.h5", *args)
    msg = assert_one_line_error(code, err, "c.yaml (--set)", key, "needs about")
    have = memory.format_bytes(memory.available_memory_bytes())
    assert msg.endswith(f"B of memory (this machine has {have})"), msg
    assert _files(tmp_path) == {"c.yaml"}


def test_n_input_1e9_in_a_subprocess(tmp_path):
    """Once a MemoryError traceback: now one line naming the key, before any file exists."""
    (tmp_path / "c.yaml").write_text(SMALL_LIF + "network: {n_input: 1e9}\n")
    code, out, err = wi_subprocess(tmp_path, "run", "c.yaml")
    msg = assert_one_line_error(code, err, "c.yaml", "network.n_input", "needs about")
    assert "TB of memory" in msg  # 1e9 x 10 float64 weights with their copies, the count buffers
    assert _files(tmp_path) == {"c.yaml"}


def test_memory_check_compares_with_the_given_budget():
    cfg = config.validate({"kind": "lif_feedforward", "network": {"n_input": 3000}})
    total, key = memory.estimate(cfg.memory_terms())
    assert key == "network.n_input"
    # no (n, n) matrix: the stimulus->input projection is one-to-one, written in blocks
    assert memory.BASELINE_BYTES < total < memory.BASELINE_BYTES + 3000**2 * 8
    memory.check_memory(cfg, "c.yaml", available=int(total) + 1)
    with pytest.raises(UserError) as info:
        memory.check_memory(cfg, "c.yaml", available=int(total) - 1)
    assert (info.value.file, info.value.key) == ("c.yaml", "network.n_input")
    with pytest.raises(UserError) as info:
        memory.check_memory(cfg, "c.yaml", overrides={"network.n_input": 3000}, available=1)
    assert info.value.file == "c.yaml (--set)"
    # validate() checks against this machine; the check can be turned off for a cluster config
    big = {"kind": "wiener", "network": {"n_pairs": 10**7}}
    with pytest.raises(UserError, match="needs about"):
        config.validate(big)
    assert config.validate(big, check_resources=False).network.n_pairs == 10**7


def test_available_memory_is_at_most_physical():
    phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    avail = memory.available_memory_bytes()
    assert 0 < avail <= phys


@pytest.mark.parametrize(
    "n, unit", [(999, "999 B"), (7.5e12, "7.5 TB"), (24e9, "24 GB"), (1.2e15, "1.2 PB")]
)
def test_format_bytes(n, unit):
    assert memory.format_bytes(n) == unit


_MEASURE = """
import json, resource, sys
from wi import config, memory, pipeline
cfg = config.validate(json.loads(sys.argv[1]))
pipeline.run(cfg, sys.argv[2], command="test", quiet=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps([memory.estimate(cfg.memory_terms())[0], peak]))
"""


@pytest.mark.parametrize(
    "raw",
    [
        {
            "kind": "lif_feedforward",
            "duration_ms": 500,
            "network": {"n_input": 4000, "n_output": 1000},
        },
        {"kind": "wiener", "duration_ms": 500, "network": {"n_pairs": 10000}},
    ],
    ids=["lif", "wiener"],
)
def test_estimate_is_within_a_factor_two_of_the_measured_peak(tmp_path, raw):
    """The oracle is the real peak resident memory of `wi run` on a network whose dense
    input->output matrix and its copies (lif) or noise blocks (wiener) dominate (0.5-1 GB); "about" in the error
    message means within a factor 2."""
    import json

    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(raw), str(tmp_path / "r.h5")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    estimate, peak = json.loads(proc.stdout.splitlines()[-1])
    assert peak > 450e6  # twice the bare interpreter: the network's arrays dominate
    assert 0.5 < estimate / peak < 2.0, (estimate, peak)


@pytest.mark.parametrize("kind", ["lif_feedforward", "wiener"])
def test_voltages_larger_than_the_disk_warn(tmp_path, monkeypatch, kind):
    """A very long run is fine (streaming), but recorded voltages beyond the free disk warn."""
    import shutil

    monkeypatch.chdir(tmp_path)
    p = tmp_path / "c.yaml"
    free = shutil.disk_usage(tmp_path).free
    # 1000 neurons (n_input + n_output, or n_pairs) x n_steps float32 > free
    n_steps = int(free / (1000 * 4)) + 1
    size = {"network": {"n_input": 990}} if kind == "lif_feedforward" else {}
    size = size or {"network": {"n_pairs": 1000}}
    raw = {"kind": kind, "record": {"voltages": True}, **size}
    raw["duration_ms"] = n_steps * 0.25
    p.write_text(config.to_yaml(config.validate(raw)))
    with pytest.warns(config.ConfigWarning, match="record.voltages: about"):
        config.load(p)
    raw["record"]["voltages"] = False  # the same long run without voltages: no disk warning
    p.write_text(config.to_yaml(config.validate(raw)))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        config.load(p)
    assert not [w for w in record if "record.voltages" in str(w.message)]
