"""The kinds ``lif_feedforward`` and ``wiener`` as networks run by the one engine.

Each preset compiles its config to populations, projections and sources with the names,
weights, random streams and update order the kind always had, so its runs are spike for spike
(and voltage for voltage) those of the kind's former dedicated kernel (the ``wiener`` kind's
membrane noise excepted: it is drawn by a faster generator since issue 14,
:func:`wi.sim.wiener.normals_block`, same distribution, other numbers):

- ``lif_feedforward`` (the paper): populations ``stimulus`` (poisson, the
  :class:`~wi.sim.stimulus.StimulusSource` of ``stream(seed, "stimulus_schedule", b)`` and
  ``stream(seed, "stimulus", b)``), ``input`` and ``output`` (LIF, the config's ``neuron``);
  projections ``stimulus_input`` (one_to_one, weight ``stim_scale``) and ``input_output``
  (all_to_all, :func:`wi.sim.network.feedforward_weights`), both through the config's
  ``synapse``.
- ``wiener``: populations ``input`` (``n_pairs`` Bernoulli trains of ``stream(seed,
  "wiener_input", b)``, blocks of :data:`~wi.sim.wiener.BLOCK_STEPS`) and ``output`` (Wiener
  neurons, noise blocks of the keys ``block_key(seed, "wiener_noise", b)``:
  :class:`~wi.sim.wiener.WienerNoise`); projection ``input_output`` (one_to_one,
  :func:`wi.sim.wiener.pair_weights`), whose input spikes are marked with ``target_voltage``.
"""

from __future__ import annotations

import numpy as np

from wi.errors import UserError
from wi.net.connectivity import Projection
from wi.net.protocol import NetworkProtocol
from wi.sim.engine import Engine, Population, Synapses
from wi.sim.network import feedforward_weights
from wi.sim.neuron import lif_params
from wi.sim.stimulus import BernoulliSource, StimulusSource, stimulus_params
from wi.sim.wiener import BLOCK_STEPS, WienerNoise, pair_weights, wiener_params


def lif_feedforward(cfg) -> NetworkProtocol:
    """The paper's protocol: stimulus -> input LIF (one-to-one) -> output LIF (all-to-all).

    Parameters
    ----------
    cfg : wi.config.LIFConfig
        A validated config.

    Returns
    -------
    NetworkProtocol
        With the extra attributes ``cfg``, ``seed`` and ``stim_params``
        (:class:`~wi.sim.stimulus.StimulusParams`).

    Raises
    ------
    wi.errors.UserError
        When the stimulus rate is not a probability per step, or no unit is active.
    """
    net, st, w = cfg.network, cfg.stimulation, cfg.weights
    dt = float(cfg.timestep_ms)
    seed = int(cfg.seed)
    n_in, n_out = int(net.n_input), int(net.n_output)
    try:
        stim = stimulus_params(n_in, st.fraction_active, st.rate_hz, st.correlation, dt)
    except ValueError as exc:
        raise UserError(str(exc), key="stimulation.rate_hz") from None
    if stim.n_active < 1:
        raise UserError(
            f"round({st.fraction_active} * {n_in}) = 0 active stimulus units",
            key="stimulation.fraction_active",
        )
    lif = lif_params(cfg.neuron, dt)
    pops = [
        Population("stimulus", "poisson", n_in),
        Population("input", "lif", n_in, lif),
        Population("output", "lif", n_out, lif),
    ]
    ts, tf = cfg.synapse.tau_slow_ms, cfg.synapse.tau_fast_ms
    projections = [
        Projection.one_to_one(
            "stimulus_input", "stimulus", "input", np.full(n_in, float(w.stim_scale))
        ),
        Projection.from_dense(
            "input_output", "input", "output", feedforward_weights(cfg), "all_to_all"
        ),
    ]
    engine = Engine(pops, [Synapses(p, ts, tf) for p in projections], dt)
    period = float(st.period_ms)
    proto = NetworkProtocol(
        engine,
        {"stimulus": lambda: StimulusSource(stim, seed, period, dt)},
        {},
        cfg.n_steps,
        dt,
    )
    proto.cfg = cfg
    proto.stim_params = stim
    proto.seed = seed
    return proto


def wiener(cfg) -> NetworkProtocol:
    """``n_pairs`` Bernoulli inputs, each driving its own Wiener-process output neuron.

    Parameters
    ----------
    cfg : wi.config.WienerConfig
        A validated config.

    Returns
    -------
    NetworkProtocol
        With the extra attributes ``cfg``, ``seed`` and ``p_input`` (input spike probability
        per step).

    Raises
    ------
    wi.errors.UserError
        When ``input.rate_hz * timestep_ms / 1000 > 1``.
    """
    dt = float(cfg.timestep_ms)
    seed = int(cfg.seed)
    n = int(cfg.network.n_pairs)
    p_input = cfg.input.rate_hz * dt / 1000.0
    if p_input > 1.0:
        raise UserError(f"input.rate_hz * timestep_ms / 1000 = {p_input} > 1", key="input.rate_hz")
    pops = [
        Population("input", "poisson", n),
        Population("output", "wiener", n, wiener_params(cfg.neuron, dt)),
    ]
    w = pair_weights(n, cfg.network.weight_max)
    proj = Projection.one_to_one("input_output", "input", "output", w)
    # no PSP onto a Wiener neuron: the synapse time constants are not used
    engine = Engine(pops, [Synapses(proj, float("nan"), float("nan"))], dt)
    proto = NetworkProtocol(
        engine,
        {"input": lambda: BernoulliSource(n, p_input, seed, "wiener_input", BLOCK_STEPS)},
        {"output": lambda: WienerNoise(seed, n)},
        cfg.n_steps,
        dt,
    )
    proto.cfg = cfg
    proto.p_input = p_input
    proto.seed = seed
    return proto
