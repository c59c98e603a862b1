"""The parts of a network: populations, connectivity rules, weight distributions, projections.

A population is a named group of identical neurons (``model: poisson | lif | wiener``); a
projection connects a presynaptic population ``pre`` to a postsynaptic population ``post`` by a
connectivity rule (which pairs are synapses) and a weight distribution (their weights), through
a double-exponential synapse. Each part is a :class:`~wi.section.Section`: unknown keys are
errors, numbers are finite and never booleans, units are in key names. A section with several
variants is chosen by one key (``model``, ``rule``, ``dist``) and the error of a wrong key
names its dotted path. The whole network (names, sizes, cross-checks) is
:class:`wi.net.config.NetworkConfig`; the synapses themselves are built by
:mod:`wi.net.connectivity`.

This module must not import ``wi.config`` (which will import it).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from wi.errors import did_you_mean
from wi.section import Section
from wi.sim.config import LIFNeuron, Stimulation, Synapse, WienerNeuron

#: Neuron indices are int32 in the connectivity arrays.
MAX_NEURONS = 2**31 - 1


def tagged(tag: str, options: dict[str, type[Section]]):
    """A ``BeforeValidator`` choosing the section class of a mapping by its key ``tag``.

    Unlike a pydantic discriminated union, the error of a nested key names the key's plain
    dotted path (``populations.exc.tau_ms``, not ``populations.exc.lif.tau_ms``), an unknown
    key gets the nearest valid one of the chosen class, and a wrong ``tag`` gets the nearest
    valid variant.
    """
    names = ", ".join(options)
    classes = tuple(options.values())

    def choose(value: Any) -> Any:
        if isinstance(value, classes):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping with {tag}: one of {names}")
        name = value.get(tag)
        if name is None:
            raise ValueError(f"{tag}: missing; one of {names}")
        if not isinstance(name, str) or name not in options:
            hint = did_you_mean(str(name), options)
            raise ValueError(f"{tag}: unknown {tag} {name!r}{hint}; one of {names}")
        cls = options[name]
        for key in value:
            if key not in cls.model_fields:
                hint = did_you_mean(str(key), cls.model_fields)
                raise ValueError(f"{key}: unknown key for {tag} {name}{hint}")
        return cls.model_validate(value)

    return BeforeValidator(choose)


def _strict_bool(value: Any) -> Any:
    if value is not None and not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# ----------------------------------------------------------------------------- populations
class _Sized(Section):
    """Keys every population has (listed first in a stored config)."""

    model: str
    n: int = Field(ge=1, le=MAX_NEURONS)


class PoissonPopulation(Stimulation, _Sized):
    """``n`` Poisson units, the sources of a network (they receive no synapses).

    Every ``period_ms`` a fresh random subset of exactly ``round(fraction_active * n)`` units
    fires at ``rate_hz``; the rest are silent. ``correlation`` c is the single-interaction
    process of Kuhn et al. (2003): each active unit copies a shared train with probability c,
    exactly as the stimulation of the ``lif_feedforward`` kind (same keys, same defaults).

    References
    ----------
    Kuhn, A., Aertsen, A., & Rotter, S. (2003). Higher-order statistics of input ensembles and
    the response of simple model neurons. Neural Computation, 15(1), 67-101.
    https://doi.org/10.1162/089976603321043702
    """

    model: Literal["poisson"] = "poisson"


class LIFPopulation(LIFNeuron, _Sized):
    """``n`` leaky integrate-and-fire neurons, with the keys of the ``lif_feedforward`` kind's
    ``neuron`` section.

    Forward Euler, v[t] = v[t-1] + dt/tau ((rest + drift - v[t-1]) + coupling (I[t-1] -
    v[t-1])), where I is the summed synaptic input (weights times PSP kernels); a spike at
    ``threshold``, then v = ``reset``.
    """

    model: Literal["lif"] = "lif"


class WienerPopulation(WienerNeuron, _Sized):
    """``n`` Wiener-process neurons, with the keys of the ``wiener`` kind's ``neuron`` section:
    the membrane drifts by ``drift_per_ms`` and diffuses with variance ``diffusion_per_ms`` per
    ms, jumps by w at each input spike, spikes at ``threshold`` and drops by ``threshold -
    reset``."""

    model: Literal["wiener"] = "wiener"


POPULATION_MODELS: dict[str, type[Section]] = {
    "poisson": PoissonPopulation,
    "lif": LIFPopulation,
    "wiener": WienerPopulation,
}
Population = Annotated[
    PoissonPopulation | LIFPopulation | WienerPopulation, tagged("model", POPULATION_MODELS)
]


# ----------------------------------------------------------------------------- connectivity
class AllToAll(Section):
    """Every pre neuron i synapses onto every post neuron j (except j = i without autapses):
    ``n_pre * n_post`` synapses (``n * (n - 1)`` without autapses)."""

    rule: Literal["all_to_all"] = "all_to_all"
    autapses: bool | None = None

    _strict = field_validator("autapses", mode="before")(_strict_bool)


class OneToOne(Section):
    """Pre neuron i synapses onto post neuron i only (``n_pre == n_post``): ``n`` synapses. From
    a population onto itself this is each neuron's autapse."""

    rule: Literal["one_to_one"] = "one_to_one"


class FixedProbability(Section):
    """Each (pre i, post j) pair is a synapse independently with probability ``p`` (Erdős-Rényi).

    The out-degree of pre neuron i is Binomial(m, p) with m = ``n_post`` (m = n - 1 without
    autapses); the number of synapses has mean ``p n_pre m`` and variance ``p (1 - p) n_pre
    m``; the in-degrees are Binomial too, but not independent of each other.
    """

    rule: Literal["fixed_probability"] = "fixed_probability"
    p: float
    autapses: bool | None = None

    _strict = field_validator("autapses", mode="before")(_strict_bool)

    @field_validator("p")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("must be in [0, 1]")
        return value


class FixedIndegree(Section):
    """Each post neuron j receives exactly ``k`` synapses from ``k`` distinct pre neurons drawn
    uniformly without replacement (never j itself without autapses): ``k n_post`` synapses.
    Needs ``k <= n_pre`` (``k <= n_pre - 1`` without autapses); out-degrees vary
    (hypergeometric-like, mean ``k n_post / n_pre``)."""

    rule: Literal["fixed_indegree"] = "fixed_indegree"
    k: int = Field(ge=0, le=MAX_NEURONS)
    autapses: bool | None = None

    _strict = field_validator("autapses", mode="before")(_strict_bool)


RULES: dict[str, type[Section]] = {
    "all_to_all": AllToAll,
    "one_to_one": OneToOne,
    "fixed_probability": FixedProbability,
    "fixed_indegree": FixedIndegree,
}
Connectivity = Annotated[
    AllToAll | OneToOne | FixedProbability | FixedIndegree, tagged("rule", RULES)
]


# ----------------------------------------------------------------------------- weights
Sign = Literal["positive", "negative"]


class ConstantWeights(Section):
    """Every synapse has weight ``value`` (its sign is the sign of ``value``)."""

    dist: Literal["constant"] = "constant"
    value: float


class NormalWeights(Section):
    """w = x with x ~ Normal(``mean``, ``sd``).

    With ``sign`` (Dale's law), w = +|x| (``positive``) or -|x| (``negative``): a folded
    normal, whose mean is not ``mean`` unless ``mean`` >> ``sd``. Without ``sign`` weights of
    both signs occur.
    """

    dist: Literal["normal"] = "normal"
    mean: float
    sd: float = Field(ge=0)
    sign: Sign | None = None


class LognormalWeights(Section):
    """|w| lognormal with the given ``mean`` and ``sd`` of the weight magnitudes themselves
    (the numbers one measures, e.g. of PSP amplitudes), not of the underlying normal.

    |w| = exp(mu + sigma z), z ~ Normal(0, 1), with sigma^2 = ln(1 + sd^2 / mean^2) and mu =
    ln(mean) - sigma^2 / 2, so E|w| = ``mean`` and SD|w| = ``sd``. ``sign`` (default
    ``positive``) gives all weights that sign (Dale's law).

    References
    ----------
    Song, S., Sjöström, P. J., Reigl, M., Nelson, S., & Chklovskii, D. B. (2005). Highly
    nonrandom features of synaptic connectivity in local cortical circuits. PLoS Biology,
    3(3), e68. https://doi.org/10.1371/journal.pbio.0030068 (lognormal EPSP amplitudes)
    """

    dist: Literal["lognormal"] = "lognormal"
    mean: float = Field(gt=0)
    sd: float = Field(ge=0)
    sign: Sign = "positive"

    @property
    def mu_sigma(self) -> tuple[float, float]:
        """(mu, sigma) of the underlying normal."""
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)


DISTRIBUTIONS: dict[str, type[Section]] = {
    "constant": ConstantWeights,
    "normal": NormalWeights,
    "lognormal": LognormalWeights,
}
WeightDist = Annotated[
    ConstantWeights | NormalWeights | LognormalWeights, tagged("dist", DISTRIBUTIONS)
]


# ----------------------------------------------------------------------------- projections
class ProjectionSpec(Section):
    """Synapses from population ``pre`` onto population ``post``.

    ``connectivity`` chooses the pairs, ``weights`` their weights (in the units of the post
    neuron's input: a LIF's I, a Wiener neuron's jump per spike). ``synapse`` (optional)
    overrides the network's PSP kernel for this projection.

    ``connectivity.autapses`` (rules ``all_to_all``, ``fixed_probability``,
    ``fixed_indegree``): may neuron i synapse onto neuron i? Only for a projection from a
    population onto itself (``pre == post``), where it defaults to false (a recurrent network
    without self-connections, what a modeller usually means); giving it for ``pre != post`` is
    an error (there is no self to connect to).
    """

    pre: str
    post: str
    connectivity: Connectivity
    weights: WeightDist
    synapse: Synapse | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_autapses(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in data:  # here: pydantic cannot suggest a key inside a mapping of projections
            if key not in cls.model_fields:
                raise ValueError(f"{key}: unknown key{did_you_mean(str(key), cls.model_fields)}")
        if data.get("pre") != data.get("post"):
            return data
        conn = data.get("connectivity")
        if isinstance(conn, dict) and conn.get("rule") in (
            "all_to_all",
            "fixed_probability",
            "fixed_indegree",
        ):
            if conn.get("autapses") is None:
                return {**data, "connectivity": {**conn, "autapses": False}}
        return data

    @model_validator(mode="after")
    def _autapses_only_onto_itself(self):
        if self.pre != self.post and getattr(self.connectivity, "autapses", None) is not None:
            raise ValueError(
                "connectivity.autapses: only for a projection from a population onto itself "
                f"(here {self.pre} -> {self.post})"
            )
        return self

    @property
    def self_excluded(self) -> bool:
        """True when neuron i may not synapse onto neuron i (``pre == post``, no autapses)."""
        return self.pre == self.post and getattr(self.connectivity, "autapses", None) is False

    def expected_synapses(self, n_pre: int, n_post: int) -> float:
        """The expected number of synapses between populations of these sizes."""
        c = self.connectivity
        m = n_post - 1 if self.self_excluded else n_post
        if isinstance(c, OneToOne):
            return float(n_pre)
        if isinstance(c, FixedIndegree):
            return float(c.k) * n_post
        p = c.p if isinstance(c, FixedProbability) else 1.0
        return p * float(n_pre) * m
