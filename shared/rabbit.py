"""RabbitMQ management-API helpers: vhosts, users, permissions, policies, queue stats."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlparse

import requests

from shared.errors import ConfigurationError


class RabbitAdmin:
    def __init__(self, management_url: str, timeout: float = 30.0):
        parsed = urlparse(management_url)
        self.base = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 15672}/api"
        self.auth = (parsed.username or "guest", parsed.password or "guest")
        self.timeout = timeout

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        try:
            resp = requests.request(
                method, self.base + path, json=json, auth=self.auth, timeout=self.timeout
            )
        except requests.ConnectionError as exc:
            raise ConfigurationError(
                f"RabbitMQ management API not reachable at {self.base} ({exc.__class__.__name__});"
                " enable it with `rabbitmq-plugins enable rabbitmq_management`",
                field="SEDULUR_RABBIT_MANAGEMENT_URL",
            ) from None
        if resp.status_code >= 400 and not (method == "DELETE" and resp.status_code == 404):
            raise ConfigurationError(
                f"RabbitMQ management API {method} {path} -> {resp.status_code}: {resp.text[:200]}",
                field="SEDULUR_RABBIT_MANAGEMENT_URL",
            )
        return resp.json() if resp.content and resp.headers.get("content-type", "").startswith(
            "application/json"
        ) else None

    def create_vhost(self, vhost: str, user: str = "guest") -> None:
        self._call("PUT", f"/vhosts/{quote(vhost, safe='')}")
        self.set_permissions(vhost, user, ".*", ".*", ".*")

    def vhosts(self) -> list[str]:
        return [v["name"] for v in self._call("GET", "/vhosts") or []]

    def delete_vhost(self, vhost: str) -> None:
        self._call("DELETE", f"/vhosts/{quote(vhost, safe='')}")

    def set_permissions(self, vhost: str, user: str, configure: str, write: str, read: str) -> None:
        self._call(
            "PUT",
            f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
            {"configure": configure, "write": write, "read": read},
        )

    def create_user(self, user: str, password: str, tags: str = "") -> None:
        self._call("PUT", f"/users/{quote(user, safe='')}", {"password": password, "tags": tags})

    def delete_user(self, user: str) -> None:
        self._call("DELETE", f"/users/{quote(user, safe='')}")

    def set_policy(self, vhost: str, name: str, pattern: str, definition: dict, **kw: Any) -> None:
        body = {"pattern": pattern, "definition": definition, "apply-to": "queues", **kw}
        self._call("PUT", f"/policies/{quote(vhost, safe='')}/{quote(name, safe='')}", body)

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/queues/{quote(vhost, safe='')}") or []

    def queue(self, vhost: str, name: str, stats_within: float = 10.0) -> dict[str, Any]:
        """The queue's details. A queue declared moments ago has no message counts until
        the management plugin's next stats tick: wait up to `stats_within` for them."""
        import time

        deadline = time.monotonic() + stats_within
        while True:
            found = self._call("GET", f"/queues/{quote(vhost, safe='')}/{quote(name, safe='')}")
            if "messages" in (found or {}) or time.monotonic() >= deadline:
                return found
            time.sleep(0.25)

    def peek(self, vhost: str, name: str, count: int = 10000) -> list[dict[str, Any]]:
        """The messages in a queue, left in place (get + requeue), oldest first."""
        return self._call(
            "POST",
            f"/queues/{quote(vhost, safe='')}/{quote(name, safe='')}/get",
            {"count": count, "ackmode": "ack_requeue_true", "encoding": "auto",
             "truncate": 100000},
        ) or []

    def load_definitions(self, definitions: dict[str, Any]) -> None:
        self._call("POST", "/definitions", definitions)
