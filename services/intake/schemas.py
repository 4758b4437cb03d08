"""Request validation for intake; value objects from the shared kernel do the checking."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import categories
from shared.identity import KK, NIK, PhoneNumber, WilayahCode


class CitizenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    nik: str
    name: str = Field(min_length=1, max_length=200)
    kk: str | None = None
    phone: str | None = None

    @field_validator("nik")
    @classmethod
    def _nik(cls, v: str) -> str:
        return NIK.parse(v, field="citizen.nik").value

    @field_validator("kk")
    @classmethod
    def _kk(cls, v: str | None) -> str | None:
        return None if v in (None, "") else KK.parse(v, field="citizen.kk").value

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return None if v in (None, "") else PhoneNumber.parse(v, field="citizen.phone").value


class RegisterComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    desk: str = Field(description="wilayah code of the Puskesos desk (6 or 10 digits)")
    category: str
    description: str = Field(min_length=1, max_length=4000)
    citizen: CitizenIn
    wilayah: str | None = Field(default=None, description="citizen's desa code (10 digits)")
    channel: Literal["desk", "web", "sms", "whatsapp", "backfill", "open311"] = "desk"
    priority: Literal["normal", "high", "urgent"] = "normal"
    confidential: bool = False

    @field_validator("desk")
    @classmethod
    def _desk(cls, v: str) -> str:
        code = WilayahCode.parse(v, field="desk")
        if code.level not in ("kecamatan", "desa"):
            from shared.errors import InvalidWilayah

            raise InvalidWilayah("desk must be a kecamatan or desa code", field="desk")
        return code.value

    @field_validator("wilayah")
    @classmethod
    def _wilayah(cls, v: str | None) -> str | None:
        return None if v in (None, "") else WilayahCode.parse(v, field="wilayah").value

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        categories.require(v)
        return v

    def to_command(self) -> dict:
        data = self.model_dump()
        data["citizen"] = {k: v for k, v in data["citizen"].items() if v is not None}
        data["wilayah"] = data["wilayah"] or data["desk"]
        return data
