from __future__ import annotations

from shared.shell import Provided

from .application import Verification


def VerificationDependency() -> Provided:  # noqa: N802
    return Provided(Verification)
