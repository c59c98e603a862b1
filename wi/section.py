"""Base class of every config section: frozen pydantic models that reject unknown keys.

Every number of every section is checked here once, so no field can forget it: NaN and
infinities are rejected (``allow_inf_nan=False``), and so are booleans given where a number is
expected (YAML ``true`` is not 1).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

#: numpy's SeedSequence takes any integer >= 0; run files store seeds as int64 attributes.
MAX_SEED = 2**63 - 1
#: Step indices are int64 everywhere.
MAX_STEPS = 2**62


def _accepts_bool(annotation: Any) -> bool:
    """True if ``annotation`` admits a bool (``bool``, ``Any``, or a union holding them)."""
    if annotation is bool or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return any(isinstance(a, bool) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _accepts_bool(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_accepts_bool(a) for a in typing.get_args(annotation))
    return False


def _holds_bool(value: Any) -> bool:
    """A bool, or a list/tuple (of lists/tuples) holding one."""
    if isinstance(value, bool):
        return True
    return isinstance(value, list | tuple) and any(_holds_bool(v) for v in value)


class Section(BaseModel):
    """A config section. Unknown keys are errors (``extra="forbid"``); units are in key names;
    every number is finite and no boolean stands for a number."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name)
        if field is not None and _holds_bool(value) and not _accepts_bool(field.annotation):
            raise ValueError("expected a number, not a boolean")
        return value


def ordered(low: str, high: str):
    """A model validator for a :class:`Section`: field ``low`` must be smaller than ``high``.

    Use as a class attribute, ``_check = ordered("tau_fast_ms", "tau_slow_ms")``; the error
    names ``low`` as the key.
    """

    def check(self):
        if getattr(self, low) >= getattr(self, high):
            raise ValueError(f"{low}: must be smaller than {high}")
        return self

    check.__name__ = f"_{low}_below_{high}"
    return model_validator(mode="after")(check)


class RunBase(Section):
    """Top-level keys shared by every kind."""

    seed: int = Field(1, ge=0, le=MAX_SEED)
    duration_ms: float = Field(200_000.0, gt=0)
    timestep_ms: float = Field(0.25, gt=0)

    @property
    def n_steps(self) -> int:
        """Number of time steps: ``round(duration_ms / timestep_ms)``."""
        return int(round(self.duration_ms / self.timestep_ms))

    @model_validator(mode="after")
    def _steps(self):
        if self.duration_ms / self.timestep_ms >= MAX_STEPS:
            raise ValueError(
                f"duration_ms: {self.duration_ms / self.timestep_ms:.3g} steps, more than the "
                f"{MAX_STEPS:.3g} that step indices hold"
            )
        if self.n_steps < 1:
            raise ValueError(
                f"duration_ms: shorter than one time step (timestep_ms = {self.timestep_ms:g})"
            )
        return self
