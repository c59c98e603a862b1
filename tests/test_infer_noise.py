"""Observation noise: drop / add / jitter statistics, marks, reflection, chunk invariance."""

from __future__ import annotations

import numpy as np
import pytest
from test_infer_methods import DT, poisson_events

from wi.chunk import Chunk, SpikeEvents
from wi.infer.noise import NoiseStage, reflect

N, STEPS = 40, 400_000  # 100 s at 0.25 ms
BLOCK = 4000  # steps in the default 1000 ms block


def big_chunk(seed=0, rate_hz=20.0):
    rng = np.random.default_rng(seed)
    ev = poisson_events(rng, N, STEPS, rate_hz)
    marks = {"input": {"target_voltage": rng.random(len(ev))}}
    return Chunk(0, STEPS, DT, {"input": ev, "output": SpikeEvents.empty()}, marks=marks)


def noisy(chunk, pieces=None, seed=7, **kw):
    stage = NoiseStage(
        seed=seed,
        populations={"input": N, "output": 3},
        timestep_ms=DT,
        n_steps=chunk.stop_step,
        **{"drop_prob": 0.0, "add_fraction": 0.0, "jitter_ms": 0.0, **kw},
    )
    out = []
    for p in pieces or [chunk]:
        out += stage.push(p)
    out += stage.flush()
    return Chunk.concat(out)


def test_reflect_hand_cases():
    got = reflect(np.array([-1, -2, 10, 11, 5, -10, 29, 30]), 0, 10)
    # unfolded: 10..19 mirror to 9..0, 20..29 repeat 0..9, 30 mirrors to 9 again
    np.testing.assert_array_equal(got, [0, 1, 9, 8, 5, 9, 9, 9])
    np.testing.assert_array_equal(
        reflect(np.array([99, 100, 110, 111]), 100, 110), [100, 100, 109, 108]
    )
    # a block whose start is not a multiple of its length (the last, shorter block): [5, 12)
    # 4 -> 2*5 - 1 - 4 = 5, 3 -> 6, 12 -> 2*12 - 1 - 12 = 11, 13 -> 10, 19 -> 4 (off the top)
    # then -> 5 (off the bottom)
    np.testing.assert_array_equal(
        reflect(np.array([4, 3, 5, 11, 12, 13, 19]), 5, 12), [5, 6, 5, 11, 11, 10, 5]
    )


def test_drop_fraction_and_subset():
    chunk = big_chunk(1)
    out = noisy(chunk, drop_prob=0.3)
    n, kept = len(chunk.spikes["input"]), len(out.spikes["input"])
    sigma = np.sqrt(n * 0.3 * 0.7)
    assert abs(kept - 0.7 * n) < 4 * sigma
    # without jitter or additions every kept spike is an original one, with its own mark
    orig = chunk.spikes["input"]
    codes_orig = orig.steps * N + orig.neurons
    codes = out.spikes["input"].steps * N + out.spikes["input"].neurons
    idx = np.searchsorted(codes_orig, codes)
    np.testing.assert_array_equal(codes_orig[idx], codes)
    assert len(out.spikes["output"]) == 0


def test_added_count_per_neuron_and_block():
    chunk = big_chunk(2)
    out = noisy(chunk, add_fraction=0.5)
    ev = chunk.spikes["input"]
    per = np.zeros((STEPS // BLOCK, N), np.int64)
    np.add.at(per, (ev.steps // BLOCK, ev.neurons), 1)
    expected_added = np.rint(0.5 * per).sum()
    assert len(out.spikes["input"]) == len(ev) + expected_added
    marks = out.marks["input"]["target_voltage"]
    assert np.isnan(marks).sum() == expected_added  # added spikes carry no mark
    # added spikes are uniform within their block: mean position ~ the block middle
    sel = np.isnan(marks)
    pos = out.spikes["input"].steps[sel] % BLOCK
    assert abs(pos.mean() - (BLOCK - 1) / 2) < 4 * BLOCK / np.sqrt(12 * sel.sum())


def test_jitter_sd():
    """One spike per neuron per block at the block middle: each noisy spike is its displaced
    copy, so the displacement SD is the jitter SD (up to step rounding)."""
    blocks = STEPS // BLOCK
    steps = np.repeat(np.arange(blocks) * BLOCK + BLOCK // 2, N)
    neurons = np.tile(np.arange(N, dtype=np.int32), blocks)
    chunk = Chunk(
        0, STEPS, DT, {"input": SpikeEvents(steps, neurons), "output": SpikeEvents.empty()}
    )
    out = noisy(chunk, jitter_ms=3.0).spikes["input"]
    order = np.lexsort((out.steps, out.neurons))  # per neuron, in block order
    disp_ms = (out.steps[order] - np.tile(np.arange(blocks) * BLOCK + BLOCK // 2, N)) * DT
    n = len(disp_ms)
    assert abs(disp_ms.mean()) < 4 * 3.0 / np.sqrt(n)
    assert disp_ms.std() == pytest.approx(np.sqrt(9.0 + DT**2 / 12), rel=4 / np.sqrt(2 * n))


def test_noise_is_chunk_invariant_and_seeded():
    chunk = big_chunk(3).window(0, 50_000)
    kw = {"drop_prob": 0.2, "add_fraction": 0.3, "jitter_ms": 5.0}
    one = noisy(chunk, **kw)
    cuts = [0, 1, 2, 3999, 4000, 4001, 9000, 20_000, 31_111, 50_000]
    many = noisy(chunk, [chunk.window(a, b) for a, b in zip(cuts, cuts[1:], strict=False)], **kw)
    for pop in ("input", "output"):
        np.testing.assert_array_equal(one.spikes[pop].steps, many.spikes[pop].steps)
        np.testing.assert_array_equal(one.spikes[pop].neurons, many.spikes[pop].neurons)
    np.testing.assert_array_equal(
        one.marks["input"]["target_voltage"], many.marks["input"]["target_voltage"]
    )
    assert np.all(np.diff(one.spikes["input"].steps) >= 0)
    assert not np.array_equal(one.spikes["input"].steps[:100], chunk.spikes["input"].steps[:100])
    # seeded: the same seed again gives the same spikes, another seed other spikes
    again = noisy(chunk, **kw)
    np.testing.assert_array_equal(again.spikes["input"].steps, one.spikes["input"].steps)
    for other_seed in (8, 1007):
        other = noisy(chunk, seed=other_seed, **kw)
        assert not np.array_equal(other.spikes["input"].steps, one.spikes["input"].steps)


@pytest.mark.parametrize(
    "drop_prob, add_fraction, jitter_ms", [(0.3, 0, 0), (0, 0.3, 0), (0, 0, 4)]
)
def test_each_noise_kind_depends_on_the_seed(drop_prob, add_fraction, jitter_ms):
    """Dropping, adding and jittering each draw from the run seed's stream: the noisy spike
    sets of two seeds differ (a stage that ignored its seed would give identical sets)."""
    chunk = big_chunk(4).window(0, 40_000)
    kw = {"drop_prob": drop_prob, "add_fraction": add_fraction, "jitter_ms": jitter_ms}
    a, b = noisy(chunk, seed=1, **kw), noisy(chunk, seed=2, **kw)
    codes = [set(x.spikes["input"].steps * N + x.spikes["input"].neurons) for x in (a, b)]
    assert codes[0] != codes[1]
    # and the two seeds' differences are a substantial part of what the noise changed
    orig = set(chunk.spikes["input"].steps * N + chunk.spikes["input"].neurons)
    changed = len(codes[0] ^ orig)
    assert len(codes[0] ^ codes[1]) > 0.5 * changed


@pytest.mark.parametrize("seed", [5, 6])
def test_one_step_blocks_keep_every_spike_on_its_step(seed):
    """block_ms = dt gives blocks of K = round(block_ms / dt) = 1 step: a jittered spike is
    reflected back into its one-step block and an added spike is drawn from that block's only
    step, so with add_fraction 1 and a large jitter each (step, neuron) count exactly doubles,
    the originals keep their marks and the copies carry NaN."""
    rng = np.random.default_rng(seed)
    ev = poisson_events(rng, N, 2000, 20.0)
    marks = {"input": {"target_voltage": rng.random(len(ev))}}
    chunk = Chunk(0, 2000, DT, {"input": ev, "output": SpikeEvents.empty()}, marks=marks)
    out = noisy(chunk, seed=seed, block_ms=DT, add_fraction=1.0, jitter_ms=10.0)
    got = out.spikes["input"]
    np.testing.assert_array_equal(got.steps, np.repeat(ev.steps, 2))
    np.testing.assert_array_equal(got.neurons, np.repeat(ev.neurons, 2))
    m = out.marks["input"]["target_voltage"]
    assert np.isnan(m).sum() == len(ev)
    np.testing.assert_array_equal(
        np.sort(m[~np.isnan(m)]), np.sort(marks["input"]["target_voltage"])
    )


def test_stream_index_names_the_populations_stream_whatever_else_is_noisy():
    """``index`` fixes each population's stream: a population observed by two sessions (two
    projections with different partners) gets the same noisy spikes in both; without it the
    index is the position among the stage's own sorted names (input 0, output 1)."""
    chunk = big_chunk(5).window(0, 12_000)
    ev = chunk.spikes["input"]
    kw = {"drop_prob": 0.3, "add_fraction": 0.2, "jitter_ms": 2.0, "seed": 3}
    kw.update(timestep_ms=DT, n_steps=12_000)

    def run(populations, index, name, renamed):
        stage = NoiseStage(populations=populations, index=index, **kw)
        c = Chunk(0, 12_000, DT, {renamed: ev, "other": SpikeEvents.empty()})
        return Chunk.concat(stage.push(c)).spikes[renamed]

    index = {"aaa": 0, "exc": 1, "zzz": 2}
    a = run({"exc": N, "zzz": 3}, index, "exc", "exc")  # exc sorted first among the two
    b = run({"aaa": 3, "exc": N}, index, "exc", "exc")  # exc sorted second
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.neurons, b.neurons)
    # the default index is the position among the stage's own names: exc 0 here, 1 above
    c = run({"exc": N, "zzz": 3}, None, "exc", "exc")
    assert not np.array_equal(c.steps, a.steps)
    legacy = run({"input": N, "output": 3}, None, "input", "input")  # input: index 0
    np.testing.assert_array_equal(legacy.steps, c.steps)  # exc: index 0 as well
    with pytest.raises(ValueError, match="index"):
        NoiseStage(populations={"exc": N}, index={"inh": 0}, **kw)
