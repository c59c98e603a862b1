"""The documented bounds of every inference hyperparameter, at their edges: a strictly
positive quantity accepts a small positive value and refuses 0; a non-negative one accepts 0
and refuses a small negative value; counts accept 1 and refuse 0."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wi.infer.params import (
    AkroutParams,
    BayesParams,
    History,
    InferConfig,
    InitialGuess,
    RDDParams,
    STDWIParams,
)

POSITIVE = [
    (STDWIParams, "learning_rate"),
    (STDWIParams, "a_fast"),
    (STDWIParams, "tau_fast_ms"),
    (STDWIParams, "tau_slow_ms"),
    (AkroutParams, "learning_rate"),
    (AkroutParams, "stimulus_ms"),
    (RDDParams, "learning_rate"),
    (RDDParams, "alpha"),
    (RDDParams, "window_ms"),
    (RDDParams, "max_u"),
    (BayesParams, "diffusion_per_ms"),
    (BayesParams, "prior_variance"),
    (InferConfig, "check_interval_ms"),
]
NON_NEGATIVE = [
    (STDWIParams, "decay"),
    (AkroutParams, "decay"),
    (AkroutParams, "momentum"),
    (BayesParams, "variance_bound"),
    (InitialGuess, "scale"),
]


def _ids(cases):
    return [f"{cls.__name__}.{key}" for cls, key in cases]


def _extra(cls, key, value):
    """STDWI needs tau_fast < tau_slow: move the other tau out of the way."""
    if cls is STDWIParams and key == "tau_slow_ms":
        return {key: value, "tau_fast_ms": value / 2}
    if cls is STDWIParams and key == "tau_fast_ms":
        return {key: value, "tau_slow_ms": 200.0}
    return {key: value}


@pytest.mark.parametrize(("cls", "key"), POSITIVE, ids=_ids(POSITIVE))
def test_strictly_positive_parameters_accept_small_values_and_refuse_zero(cls, key):
    for small in (0.5, 1e-3):
        assert getattr(cls(**_extra(cls, key, small)), key) == small
    for bad in (0.0, -0.5):
        with pytest.raises(ValidationError, match=key):
            cls(**_extra(cls, key, bad))


@pytest.mark.parametrize(("cls", "key"), NON_NEGATIVE, ids=_ids(NON_NEGATIVE))
def test_non_negative_parameters_accept_zero_and_refuse_negative(cls, key):
    assert getattr(cls(**{key: 0.0}), key) == 0.0
    assert getattr(cls(**{key: 0.5}), key) == 0.5
    with pytest.raises(ValidationError, match=key):
        cls(**{key: -1e-9})


def test_counts_accept_one_and_refuse_zero():
    assert AkroutParams(batch_stimuli=1).batch_stimuli == 1
    with pytest.raises(ValidationError, match="batch_stimuli"):
        AkroutParams(batch_stimuli=0)
    assert InitialGuess(seed=0).seed == 0
    assert InitialGuess(seed=2**32 - 1).seed == 2**32 - 1
    for bad in (-1, 2**32):
        with pytest.raises(ValidationError, match="seed"):
            InitialGuess(seed=bad)


def test_momentum_must_stay_below_one():
    assert AkroutParams(momentum=0.999).momentum == 0.999
    with pytest.raises(ValidationError, match="momentum"):
        AkroutParams(momentum=1.0)


def test_history_and_absent_pairs_defaults_and_bounds():
    """``infer.history.max_synapses`` (default 10 000) is a count >= 1; ``infer.absent_pairs``
    (default 10 000) is a count >= 0 (0 disables the detection metrics); both integers."""
    c = InferConfig()
    assert c.history.max_synapses == 10_000 and c.absent_pairs == 10_000
    assert History(max_synapses=1).max_synapses == 1
    assert InferConfig(absent_pairs=0).absent_pairs == 0
    with pytest.raises(ValidationError, match="max_synapses"):
        History(max_synapses=0)
    with pytest.raises(ValidationError, match="absent_pairs"):
        InferConfig(absent_pairs=-1)
    for bad in (2.5, "many"):
        with pytest.raises(ValidationError, match="absent_pairs"):
            InferConfig(absent_pairs=bad)
        with pytest.raises(ValidationError, match="max_synapses"):
            InferConfig(history={"max_synapses": bad})
    with pytest.raises(ValidationError, match="max_synaps"):
        InferConfig(history={"max_synaps": 5})  # a misspelt key is an error
