from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=2000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason_code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    reason: str = Field(min_length=1, max_length=2000)


class UsulanIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=2000)


class DeskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kabupaten: str | None = Field(default=None, pattern=r"^\d{4}$")
    reason: Literal["name_mismatch", "nik_not_found_kk_found", "registry_stale",
                    "registry_empty"] | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class UsulanQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kabupaten: str | None = Field(default=None, pattern=r"^\d{4}$")
    desa: str | None = Field(default=None, pattern=r"^\d{6,10}$")
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
