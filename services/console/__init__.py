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
    # signed tokens (issue 9, SEDULUR_AUTH_MODE=jwt) the page offers the token login only.
    dev_identity = os.environ.get("SEDULUR_AUTH_MODE", "trusted-headers") != "jwt"
    return {"services": services, "kabupaten": settings.default_kabupaten,
            "dev_identity": dev_identity}


def login_links(settings: Settings, desk: str) -> list[tuple[str, str]]:
    """Login links for the demo, one per screen. Until signed tokens land (issue 9) they
    carry a development identity (#dev=); with tokens they become `#token=<jwt>` links
    from `sedulur users token`, and the page accepts both."""
    import json
    from urllib.parse import quote

    base = f"{settings.http_url('intake')}/console/"
    people = [
        ("operator desk", {"user": f"op-{desk}", "role": "operator", "desk": desk}),
        ("supervisor", {"user": f"spv-{desk}", "role": "supervisor", "area": desk}),
        ("agency DINKES", {"user": "petugas-dinkes", "role": "agency", "agency": "DINKES"}),
        ("auditor", {"user": "auditor", "role": "auditor"}),
    ]
    return [(label, base + "#dev=" + quote(json.dumps(who, separators=(",", ":")), safe=""))
            for label, who in people]
