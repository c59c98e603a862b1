"""Base class of every config section: frozen pydantic models that reject unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A config section. Unknown keys are errors (``extra="forbid"``); units are in key names."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class RunBase(Section):
    """Top-level keys shared by every kind."""

    seed: int = Field(1, ge=0)
    duration_ms: float = Field(200_000.0, gt=0)
    timestep_ms: float = Field(0.25, gt=0)

    @property
    def n_steps(self) -> int:
        """Number of time steps: ``round(duration_ms / timestep_ms)``."""
        return int(round(self.duration_ms / self.timestep_ms))
