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
    priority: Literal["normal", "high", "urgent"] | None = Field(
        default=None,
        description="defaults to the category's priority; a lower one is raised to it",
    )
    confidential: bool | None = Field(
        default=None, description="defaults to the category's flag; cannot unset it"
    )

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
        category = categories.require(self.category)
        asked = self.priority or "normal"
        data["priority"] = max(asked, category["priority"], key=categories.priority_rank)
        data["confidential"] = bool(self.confidential) or category["confidential"]
        return data


class PublicComplaintIn(BaseModel):
    """The public web form: no operator; the citizen's kecamatan desk takes the case (from
    `desk`, else the kecamatan in the NIK)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str
    description: str = Field(min_length=1, max_length=4000)
    citizen: CitizenIn
    desk: str | None = Field(default=None, description="kecamatan/desa code; default NIK[:6]")
    wilayah: str | None = None

    def to_register(self, channel: str = "web") -> RegisterComplaintIn:
        body = self.model_dump(exclude_none=True)
        body["desk"] = self.desk or self.citizen.nik[:6]
        body["channel"] = channel
        body["citizen"] = self.citizen.model_dump(exclude_none=True)
        return RegisterComplaintIn.model_validate(body)


class GatewayMessageIn(BaseModel):
    """What an SMS / WhatsApp gateway posts for one inbound message."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    message_id: str = Field(min_length=1, max_length=200,
                            description="the gateway's id; a redelivery registers nothing new")
    channel: Literal["sms", "whatsapp"]
    sender: str = Field(alias="from", description="sender phone number")
    text: str = Field(min_length=1, max_length=2000, description="NIK#KATEGORI#uraian")
    name: str | None = Field(default=None, max_length=200)


class OperatorLoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    desk: str = Field(description="wilayah code of the desk the operator sits at")

    @field_validator("desk")
    @classmethod
    def _desk(cls, v: str) -> str:
        return RegisterComplaintIn._desk(v)  # type: ignore[operator]


class SessionOut(BaseModel):
    session_id: str
    operator_id: str
    desk: str
    heartbeat_seconds: int


class RegistrationOut(BaseModel):
    complaint_id: str
    registration_number: str
    duplicate_of: str | None = None


class StatusOut(BaseModel):
    registration_number: str
    status: str
    stage: str
    agency: str | None = None
    due_at: str | None = None


class GatewayReplyOut(BaseModel):
    registration_number: str | None = None
    reply: str = Field(description="text the gateway can send back to the citizen")
