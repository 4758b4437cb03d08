"""The web console: static files (services/console/static, no build step) that intake
serves under /console/, and the small config document telling the page where each
service's HTTP API is. The page talks to the services' own APIs; there is no backend here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shared.config import SERVICES, Settings

STATIC = Path(__file__).resolve().parent / "static"

MEDIA_TYPES = {
    ".html": "text/html", ".js": "text/javascript", ".css": "text/css",
    ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json",
    ".ico": "image/x-icon",
}


def asset(path: str) -> tuple[bytes, str] | None:
    """(content, media type) of a file under STATIC, or None: unknown type, missing, or a
    path that leaves the folder."""
    target = (STATIC / (path or "index.html")).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        return None
    media_type = MEDIA_TYPES.get(target.suffix)
    if media_type is None:
        return None
    return target.read_bytes(), media_type


def config(settings: Settings) -> dict[str, Any]:
    """Where the browser finds each API. SEDULUR_CONSOLE_<SERVICE>_URL names a full base URL
    (behind a proxy, another host); otherwise the page uses its own host with the port,
    and for intake, which serves the page, its own origin."""
    services = {}
    for service in SERVICES:
        url = os.environ.get(f"SEDULUR_CONSOLE_{service.upper()}_URL") or None
        # intake serves the page: the page's own origin, whatever host and port it came by
        port = None if service == "intake" else settings.http_port(service)
        services[service] = {"url": url.rstrip("/") if url else None, "port": port}
    # The development identity form works while the services read X-Sedulur-* headers; with
    # signed tokens (issue 9: every process has SEDULUR_JWT_KEYS) only the token login does.
    dev_identity = not signed_tokens()
    return {"services": services, "kabupaten": settings.default_kabupaten,
            "dev_identity": dev_identity}


# Demo login links stay valid for a working day.
DEMO_TOKEN_TTL = 8 * 3600


def signed_tokens() -> bool:
    return bool(os.environ.get("SEDULUR_JWT_KEYS"))


def login_links(settings: Settings, desk: str) -> list[tuple[str, str]]:
    """Login links for the demo, one per screen: `#token=<jwt>` signed with the process's
    key ring when the services verify signed tokens, else a development identity (#dev=)
    for services that still read X-Sedulur-* headers. The page accepts both."""
    import json
    from urllib.parse import quote

    base = f"{settings.http_url('intake')}/console/"
    kabupaten = settings.default_kabupaten
    people = [
        ("operator desk", f"op-{desk}", "operator", {"desk": desk}),
        ("supervisor", f"spv-{desk[:6]}", "supervisor", {"kecamatan": desk[:6]}),
        ("agency DINKES", "petugas-dinkes", "agency", {"agency": "DINKES",
                                                       "kabupaten": kabupaten}),
        ("auditor", "auditor", "auditor", {}),
    ]
    links = []
    for label, user, role, claims in people:
        if signed_tokens():
            from shared.auth import issue_claims  # type: ignore[import-not-found,unused-ignore]

            fragment = "#token=" + issue_claims(user, role, claims, ttl=DEMO_TOKEN_TTL)
        else:
            who = {"user": user, "role": role, "desk": claims.get("desk"),
                   "area": claims.get("kecamatan"), "agency": claims.get("agency")}
            fragment = "#dev=" + quote(json.dumps({k: v for k, v in who.items() if v},
                                                  separators=(",", ":")), safe="")
        links.append((label, base + fragment))
    return links
