"""Observation noise, block by block: where NoiseStage cuts its blocks, noise on each population
independently, reflection of jitter inside a short last block, and a pinned small case."""

from __future__ import annotations

import numpy as np
import pytest

from wi.chunk import Chunk, SpikeEvents
from wi.infer.noise import NoiseStage, noisy_block
from wi.seeding import stream

DT = 0.25


def stage(n_steps, block_steps, populations=None, seed=7, **kw):
    return NoiseStage(
        seed=seed,
        populations=populations or {"input": 2, "output": 2},
        timestep_ms=DT,
        n_steps=n_steps,
        block_ms=block_steps * DT,
        **{"drop_prob": 0.0, "add_fraction": 0.0, "jitter_ms": 0.0, **kw},
    )


def every_step(n_steps, n_neurons):
    """One spike of every neuron at every step, sorted by (step, neuron)."""
    steps = np.repeat(np.arange(n_steps, dtype=np.int64), n_neurons)
    neurons = np.tile(np.arange(n_neurons, dtype=np.int32), n_steps)
    return SpikeEvents(steps, neurons)


def full_chunk(n_steps, n_neurons=2):
    """Input and output spiking at every step, a voltage trace equal to the step index and a mark
    equal to the spike's index (so the output shows which spike went where)."""
    ev = every_step(n_steps, n_neurons)
    volt = np.tile(np.arange(n_steps, dtype=np.float32), (n_neurons, 1))
    return Chunk(
        0,
        n_steps,
        DT,
        {"input": ev, "output": ev},
        {"output": {"voltage": volt}},
        {"input": {"target_voltage": np.arange(len(ev), dtype=np.float64)}},
    )


# ------------------------------------------------------------------ block bounds


@pytest.mark.parametrize(
    "cuts, emitted_after",
    [
        ([0, 10], [[(0, 4), (4, 8), (8, 10)]]),
        ([0, 3, 9, 10], [[], [(0, 4), (4, 8)], [(8, 10)]]),
        ([0, 4, 8, 10], [[(0, 4)], [(4, 8)], [(8, 10)]]),
        ([0, 5, 6, 7, 10], [[(0, 4)], [], [], [(4, 8), (8, 10)]]),
    ],
)
def test_blocks_are_b_k_to_min_b_plus_1_k_n(cuts, emitted_after):
    """K = 4 steps, n = 10 steps (2.5 blocks): the blocks are [0, 4), [4, 8), [8, 10), each
    emitted as soon as its last step has been pushed, whatever the chunking; flush then has
    nothing left. Each emitted chunk holds exactly its steps' spikes and voltages."""
    chunk = full_chunk(10)
    st = stage(10, 4)
    got = []
    assert len(emitted_after) == len(cuts) - 1
    for a, b, want in zip(cuts, cuts[1:], emitted_after, strict=False):
        out = st.push(chunk.window(a, b))
        assert [(c.start_step, c.stop_step) for c in out] == want
        got += out
    assert st.flush() == []
    for c in got:
        for pop in ("input", "output"):
            np.testing.assert_array_equal(
                c.spikes[pop].steps, np.repeat(np.arange(c.start_step, c.stop_step), 2)
            )
        np.testing.assert_array_equal(
            c.voltages["output"]["voltage"][0], np.arange(c.start_step, c.stop_step)
        )


def test_data_ending_inside_a_block_is_flushed_as_a_short_block():
    """n_steps = 10 declared but the data stops at step 6: push emits [0, 4); flush emits [4, 6)."""
    chunk = full_chunk(6)
    st = stage(10, 4)
    assert [(c.start_step, c.stop_step) for c in st.push(chunk)] == [(0, 4)]
    flushed = st.flush()
    assert [(c.start_step, c.stop_step) for c in flushed] == [(4, 6)]
    np.testing.assert_array_equal(flushed[0].spikes["input"].steps, [4, 4, 5, 5])


# ------------------------------------------------- populations are independent


@pytest.mark.parametrize(
    "populations", [{"input": 2, "output": 3}, {"output": 3, "input": 2}], ids=["in-out", "out-in"]
)
def test_a_population_missing_from_the_data_does_not_stop_the_others(populations):
    """The data has output spikes only (and an unlisted population, passed through): whatever the
    order of the noisy populations, the output gets its noise (add_fraction 1 doubles each
    neuron's spikes in each block) and the unlisted population is untouched."""
    n = 12
    out_ev = SpikeEvents(np.array([0, 1, 5, 6, 9, 11]), np.array([0, 2, 1, 1, 0, 2], np.int32))
    other = every_step(n, 1)
    chunk = Chunk(0, n, DT, {"output": out_ev, "stimulus": other})
    st = stage(n, 4, populations, add_fraction=1.0)
    res = Chunk.concat(st.push(chunk) + st.flush())
    assert "input" not in res.spikes
    got = res.spikes["output"]
    # per block [0, 4), [4, 8), [8, 12): (neuron -> spikes) doubled, added ones in the same block
    for a in (0, 4, 8):
        inside = (got.steps >= a) & (got.steps < a + 4)
        orig = (out_ev.steps >= a) & (out_ev.steps < a + 4)
        np.testing.assert_array_equal(
            np.bincount(got.neurons[inside], minlength=3),
            2 * np.bincount(out_ev.neurons[orig], minlength=3),
        )
    assert len(got) == 2 * len(out_ev)
    np.testing.assert_array_equal(res.spikes["stimulus"].steps, other.steps)
    np.testing.assert_array_equal(res.spikes["stimulus"].neurons, other.neurons)


# --------------------------------------- reflection in a short last block


def test_without_noise_a_short_last_block_is_unchanged():
    """n = 11, K = 4: the last block is [8, 11), whose start is not a multiple of its length 3.
    With no drop, addition or jitter every spike (and its mark) stays where it is."""
    chunk = full_chunk(11)
    res = Chunk.concat(stage(11, 4).push(chunk))
    for pop in ("input", "output"):
        np.testing.assert_array_equal(res.spikes[pop].steps, chunk.spikes[pop].steps)
        np.testing.assert_array_equal(res.spikes[pop].neurons, chunk.spikes[pop].neurons)
    np.testing.assert_array_equal(
        res.marks["input"]["target_voltage"], chunk.marks["input"]["target_voltage"]
    )


class ScriptedRng:
    """Stands in for the block's Generator: every spike kept, no additions, given N(0, 1) draws."""

    def __init__(self, z):
        self.z = np.asarray(z, np.float64)

    def random(self, n):
        return np.ones(n)

    def integers(self, lo, hi, size):
        assert size == 0
        return np.empty(0, np.int64)

    def standard_normal(self, n):
        assert n == len(self.z)
        return self.z


def test_jitter_reflects_into_a_short_block_by_hand():
    """Block [8, 11) (a = 8, e = 11), jitter SD 1 step, so each spike moves by rint(z) steps and
    is reflected: below a, t -> 2a - 1 - t = 15 - t; past e - 1, t -> 2e - 1 - t = 21 - t.
      neuron 0: 8 - 1 = 7 -> 8          neuron 1: 9 + 2 = 11 -> 10
      neuron 2: 10 + 1 = 11 -> 10       neuron 3: 9 - 4 = 5 -> 10
      neuron 4: 10 + 5 = 15 -> 6 -> 9   neuron 5: 8 + 0 = 8 (rint(0.4) = 0)
      neuron 6: 8 - 3 = 5 -> 10         neuron 7: 10 - 2 = 8 (inside)"""
    steps = np.array([8, 8, 8, 9, 9, 10, 10, 10])
    neurons = np.array([0, 5, 6, 1, 3, 2, 4, 7])
    z = [-1.0, 0.4, -3.0, 2.0, -4.0, 1.0, 5.0, -2.0]
    marks = {"m": np.arange(8.0)}
    ev, out_marks = noisy_block(
        steps, neurons, marks, 8, 11, 8, ScriptedRng(z), drop_prob=0.5, add_fraction=0.0,
        jitter_steps=1.0,
    )  # fmt: skip
    # sorted by (step, neuron): (8,0) (8,5) (8,7) (9,4) (10,1) (10,2) (10,3) (10,6)
    np.testing.assert_array_equal(ev.steps, [8, 8, 8, 9, 10, 10, 10, 10])
    np.testing.assert_array_equal(ev.neurons, [0, 5, 7, 4, 1, 2, 3, 6])
    # each mark follows its spike: neuron k's input position was [0, 5, 6, 1, 3, 2, 4, 7].index(k)
    np.testing.assert_array_equal(out_marks["m"], [0, 1, 7, 6, 3, 5, 4, 2])


def fold(t, a, e):
    """Reflect t into [a, e) one mirror at a time (the module docstring's two rules)."""
    while t < a or t >= e:
        t = 2 * a - 1 - t if t < a else 2 * e - 1 - t
    return t


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_jitter_in_a_short_last_block_follows_the_documented_draws(seed):
    """K = 8, n = 21: the last block b = 2 is [16, 21) (16 is not a multiple of 5). Five input
    neurons spike at each of its steps (25 spikes, sorted by (step, neuron)); with jitter only,
    the block's stream stream(seed, "observation_noise", 0, 2) gives 25 U(0, 1) (drop test)
    then 25 N(0, 1) z; spike k moves by rint(jitter_steps z_k) and is folded into the block."""
    n_steps, a, e, jitter_steps = 21, 16, 21, 3.0
    steps = np.repeat(np.arange(a, e), 5)
    neurons = np.tile(np.arange(5, dtype=np.int32), e - a)
    chunk = Chunk(0, n_steps, DT, {"input": SpikeEvents(steps, neurons)})
    out = stage(n_steps, 8, {"input": 5}, seed=seed, jitter_ms=jitter_steps * DT).push(chunk)
    last = out[-1].spikes["input"]
    rng = stream(seed, "observation_noise", 0, 2)
    rng.random(len(steps))
    z = rng.standard_normal(len(steps))
    moved = [
        fold(int(t + np.rint(jitter_steps * zk)), a, e) for t, zk in zip(steps, z, strict=True)
    ]
    order = np.lexsort((neurons, moved))
    assert sum(m != t for m, t in zip(moved, steps, strict=True)) > 10, "the jitter must show"
    assert any(t + np.rint(jitter_steps * zk) >= e for t, zk in zip(steps, z, strict=True))
    np.testing.assert_array_equal(last.steps, np.asarray(moved)[order])
    np.testing.assert_array_equal(last.neurons, neurons[order])


# ------------------------------------------------------------------ regression pin


@pytest.mark.parametrize("cuts", [[0, 20], [0, 5, 13, 20], [0, 8, 9, 16, 20]])
def test_pinned_noisy_output_of_a_small_case(cuts):
    """REGRESSION PIN: the exact output of one small case (seed 2026, K = 8 steps, n = 20 steps:
    blocks [0, 8), [8, 16), [16, 20); drop 0.25, add 0.5, jitter 0.5 ms = 2 steps), computed
    once with the code and checked by hand for plausibility, not derived independently. It
    catches any change of the draws that keeps their distribution (e.g. a jitter of opposite
    sign). Hand review, input (mark = index of the original spike):
      block 0: originals 0..5 = (0,n2) (1,n0) (2,n1) (3,n0) (6,n0) (7,n2); kept 1 (1 -> 2),
        3 (3 -> 4), 4 (6 -> 2: -4 steps, 2 SD); dropped 0, 2, 5; added rint(0.5 m_n) =
        2 for n0 (3 spikes), 0 for n1 (1, half to even), 1 for n2 (2): three NaN marks.
      block 1: originals 6..11 = (8,n2) (9,n0) (10,n1) (11,n1) (12,n0) (15,n2); kept 6 (+0),
        7 (+2), 8 (+2), 10 (+1), 11 (+0); dropped 9; one added per neuron (2 spikes each).
      block 2: originals 12..15 = (16,n2) (17,n0) (18,n1) (19,n2); kept 12 (+0), dropped
        13, 14, 15; one added for n2 (2 spikes), none for n0, n1 (1 spike each).
    In all, 7 of 16 dropped (expected 4, SD 1.7); jitter moves within +-4 steps (SD 2).
    Output: (4,n0) (5,n1) | (13,n0) (14,n1) | (19,n1): one of block 0 dropped, no additions
    (1 spike per neuron per block), moves of +2, -3, -1. The same for any chunking."""
    inp = SpikeEvents(
        np.array([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17, 18, 19]),
        np.array([2, 0, 1, 0, 0, 2, 2, 0, 1, 1, 0, 2, 2, 0, 1, 2], np.int32),
    )
    out = SpikeEvents(np.array([4, 5, 13, 14, 19]), np.array([0, 1, 0, 1, 1], np.int32))
    chunk = Chunk(
        0,
        20,
        DT,
        {"input": inp, "output": out},
        marks={"input": {"target_voltage": np.arange(16.0)}},
    )
    st = stage(
        20, 8, {"input": 3, "output": 2}, seed=2026, drop_prob=0.25, add_fraction=0.5,
        jitter_ms=0.5,
    )  # fmt: skip
    pieces = [st.push(chunk.window(a, b)) for a, b in zip(cuts, cuts[1:], strict=False)]
    res = Chunk.concat(sum(pieces, []) + st.flush())
    nan = np.nan
    np.testing.assert_array_equal(
        res.spikes["input"].steps, [0, 1, 2, 2, 4, 4, 8, 9, 11, 12, 13, 14, 14, 15, 16, 17]
    )
    np.testing.assert_array_equal(
        res.spikes["input"].neurons, [0, 2, 0, 0, 0, 0, 2, 2, 0, 1, 0, 0, 1, 2, 2, 2]
    )
    np.testing.assert_array_equal(
        res.marks["input"]["target_voltage"],
        [nan, nan, 1, 4, 3, nan, nan, 6, 7, 8, 10, nan, nan, 11, 12, nan],
    )
    np.testing.assert_array_equal(res.spikes["output"].steps, [5, 11, 15, 18])
    np.testing.assert_array_equal(res.spikes["output"].neurons, [1, 1, 0, 1])
