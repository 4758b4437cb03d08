"""RpcRegistry: a KK dtks_sync refuses by today's rules finds no family; any other remote
error still fails the message (and is retried)."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError

from services.verification.adapters import RpcRegistry


class Proxy:
    def __init__(self, kk_error: RemoteError | None) -> None:
        self.kk_error = kk_error

    def lookup_nik(self, nik: str) -> dict:
        return {"person": None, "snapshot_id": "snap-1"}

    def lookup_kk(self, kk: str) -> list:
        if self.kk_error:
            raise self.kk_error
        return [{"nik": "3325010101900001"}]

    def current_snapshot(self) -> dict:
        return {"id": "snap-1", "finished_at": None}


def test_a_kk_the_registry_refuses_finds_no_family() -> None:
    answer = RpcRegistry(Proxy(RemoteError("InvalidKK", "bad issue date"))).lookup(
        "3325010101900009", "3325019999990001")
    assert answer.person is None and answer.family == []


def test_a_family_is_found_by_kk_when_the_nik_is_not() -> None:
    answer = RpcRegistry(Proxy(None)).lookup("3325010101900009", "3325010101100001")
    assert answer.family == [{"nik": "3325010101900001"}]


def test_any_other_remote_error_still_fails() -> None:
    with pytest.raises(RemoteError):
        RpcRegistry(Proxy(RemoteError("DependencyUnavailable", "db down"))).lookup(
            "3325010101900009", "3325010101100001")
