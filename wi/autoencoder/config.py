"""Config of kind ``autoencoder`` (owned by the autoencoder module).

This module must not import ``wi.config`` (it is imported by it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wi.section import RunBase, Section


class AutoencoderRecord(Section):
    sample_ms: float = Field(0.1, gt=0)


class AutoencoderConfig(RunBase):
    """Placeholder; the autoencoder issue fills this in."""

    kind: Literal["autoencoder"] = "autoencoder"
    duration_ms: float = Field(4000.0, gt=0)
    timestep_ms: float = Field(0.01, gt=0)
    record: AutoencoderRecord = AutoencoderRecord()
