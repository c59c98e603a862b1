"""The engine's fixed-capacity spike buffers: a call whose spikes do not fit is run again with
more room, and the result is the same as with room to spare (the kernel is pure)."""

from __future__ import annotations

import numpy as np
import pytest

import wi.sim.engine as engine_module
from wi.chunk import Chunk
from wi.config import WienerConfig
from wi.sim import build_protocol


def _spikes(proto, chunk_steps, hint):
    calls = []
    real = engine_module.engine_kernel

    def counting(*args):
        out = real(*args)
        calls.append(bool(out[-1]))
        return out

    engine_module.engine_kernel = counting
    try:
        proto.engine._spikes_per_step = hint
        c = Chunk.concat(list(proto.chunks(chunk_steps, voltages=True)))
    finally:
        engine_module.engine_kernel = real
    return c, calls


@pytest.mark.parametrize("seed", [1, 2])
def test_overflowing_calls_are_rerun_and_change_nothing(seed):
    cfg = WienerConfig.model_validate(
        {"seed": seed, "duration_ms": 2000.0, "network": {"n_pairs": 400}, "input": {"rate_hz": 50}}
    )
    proto = build_protocol(cfg)
    tight, calls_tight = _spikes(proto, 4000, 0.0)
    roomy, calls_roomy = _spikes(build_protocol(cfg), 4000, 1000.0)
    assert any(calls_tight) and not any(calls_roomy)  # the first run overflowed, the second not
    for pop in ("input", "output"):
        np.testing.assert_array_equal(tight.spikes[pop].steps, roomy.spikes[pop].steps)
        np.testing.assert_array_equal(tight.spikes[pop].neurons, roomy.spikes[pop].neurons)
    np.testing.assert_array_equal(
        tight.marks["input"]["target_voltage"], roomy.marks["input"]["target_voltage"]
    )
    np.testing.assert_array_equal(
        tight.voltages["output"]["voltage"], roomy.voltages["output"]["voltage"]
    )
    assert len(tight.spikes["output"]) > 4000  # more than the first call's 1024 slots
