"""The deployment files, validated without a Docker engine or a cluster: compose schema,
hadolint, kubernetes-validate, promtool; and every deployable the code defines has a
container whose command the `sedulur` CLI really has."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config import DEFAULT_HTTP_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILES = sorted(DEPLOY.rglob("Dockerfile*"))
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))
PROMETHEUS = DEPLOY / "prometheus"
# Every long-running deployable and the one-off jobs, as `sedulur` arguments.
DEPLOYABLES = {**{svc: ["run", svc] for svc in SERVICES}, "relay": ["relay"]}
JOBS = [["migrate"], ["topology"], ["rabbit", "definitions", "--load"]]


def tool(name: str) -> str:
    """A validator binary: from the venv (pip) or the system (apt); missing is a failure,
    not a skip, since CI installs them (pyproject test extra, scripts/install)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(f"{name} not installed: run scripts/install")
    return found


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in K8S_FILES
            for doc in yaml.safe_load_all(path.read_text()) if doc]


# -- docker-compose ------------------------------------------------------------------------

def compose_schema_errors(document: dict[str, Any]) -> list[str]:
    import jsonschema

    schema = json.loads((resources.files("check_jsonschema.builtin_schemas.vendor")
                         / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]


def test_compose_file_matches_the_compose_specification_schema():
    assert compose_schema_errors(compose()) == []


def test_compose_schema_check_rejects_a_misspelt_key():
    broken = compose()
    broken["services"]["intake"]["helthcheck"] = broken["services"]["intake"].pop("healthcheck")
    assert compose_schema_errors(broken)


def command_of(service: dict[str, Any]) -> list[str]:
    return list(service["command"])


def test_every_deployable_in_the_code_has_a_compose_container_with_a_health_check():
    services = sedulur_containers()
    by_command = {tuple(command_of(s)): name for name, s in services.items()}
    assert len(by_command) == len(services), "two containers run the same command"
    for deployable, args in DEPLOYABLES.items():
        name = by_command.get(tuple(args))
        assert name, f"no container runs `sedulur {' '.join(args)}`"
        svc = services[name]
        assert "healthcheck" in svc and svc.get("restart") == "unless-stopped", name
        if deployable in DEFAULT_HTTP_PORTS:
            probe = " ".join(svc["healthcheck"]["test"])
            assert f":{DEFAULT_HTTP_PORTS[deployable]}/health" in probe
    for job in JOBS:
        assert tuple(job) in by_command, f"no one-off job runs `sedulur {' '.join(job)}`"


def test_compose_starts_services_only_after_schema_definitions_and_topology():
    services = compose()["services"]
    for name, svc in services.items():
        if svc.get("command", [None])[0] in ("run", "relay"):
            deps = svc["depends_on"]
            assert deps["migrate"]["condition"] == "service_completed_successfully", name
            assert deps["topology"]["condition"] == "service_completed_successfully", name
    assert services["topology"]["depends_on"]["rabbit-definitions"]["condition"] == \
        "service_completed_successfully"
    assert services["rabbit-definitions"]["depends_on"]["rabbitmq"]["condition"] == \
        "service_healthy"
    assert {"postgres", "rabbitmq", "prometheus", "grafana"} <= set(services)


def test_each_service_container_connects_to_rabbitmq_as_its_own_user():
    services = compose()["services"]
    for name, svc in services.items():
        args = svc.get("command", [])
        if args[:1] == ["run"]:
            user = "sedulur-" + args[1].replace("_", "-")
            assert f"amqp://{user}:" in svc["environment"]["SEDULUR_AMQP_URI"], name


# -- Dockerfiles -----------------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_passes_hadolint(dockerfile):
    result = subprocess.run([tool("hadolint"), "--no-color", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    result = subprocess.run([tool("hadolint"), "--no-color", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3007" in result.stdout


def dockerfile_stages(path: Path) -> dict[str, dict[str, Any]]:
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in path.read_text().splitlines():
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            parent = stages.get(m.group(1), {})
            current = {"from": m.group(1), "user": parent.get("user"), "cmd": parent.get("cmd")}
            stages[m.group(2) or m.group(1)] = current
        elif current is not None and line.startswith("USER "):
            current["user"] = line.split()[1]
        elif current is not None and line.startswith("CMD "):
            current["cmd"] = json.loads(line[4:])
    return stages


def test_every_deployable_has_a_non_root_image_target_with_its_command():
    [dockerfile] = [p for p in DOCKERFILES if p.name == "Dockerfile"]
    stages = dockerfile_stages(dockerfile)
    for image in {s["from"] for s in stages.values()} - set(stages):
        assert re.match(r".+:\d+\.\d+\.\d+", image), f"base image {image} not pinned"
    for deployable, args in DEPLOYABLES.items():
        stage = stages[deployable]
        assert stage["cmd"] == args
        assert stage["user"] and stage["user"].split(":")[0] not in ("0", "root")
    assert stages["jobs"]["user"] not in (None, "0", "root")


# -- every container command exists in the CLI ------------------------------------------------

def sedulur_containers() -> dict[str, dict[str, Any]]:
    """Compose services running a Sedulur image (not PostgreSQL, RabbitMQ, Prometheus…)."""
    return {name: s for name, s in compose()["services"].items()
            if s.get("image", "").startswith("sedulur/")}


def all_container_commands() -> list[list[str]]:
    commands = [command_of(s) for s in sedulur_containers().values()]
    for _, doc in k8s_docs():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        commands += [c["args"] for c in spec.get("containers", [])]
    [dockerfile] = [p for p in DOCKERFILES if p.name == "Dockerfile"]
    commands += [s["cmd"] for s in dockerfile_stages(dockerfile).values() if s["cmd"]]
    return commands


def resolve(args: list[str]) -> tuple[list[str], Any]:
    """The sub-command path of `sedulur <args>` and its click context (arguments parsed and
    checked exactly as the CLI would, without running it)."""
    import typer.main

    from shared.cli import app

    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while rest and hasattr(command, "commands") and rest[0] in command.commands:
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    ctx = command.make_context(" ".join(["sedulur", *path]), rest)
    return path, ctx


def test_every_container_command_is_a_valid_sedulur_invocation():
    seen = all_container_commands()
    assert len(seen) >= len(DEPLOYABLES) + len(JOBS)
    for args in seen:
        if args == ["--help"]:
            continue
        path, ctx = resolve(args)
        assert path, f"`sedulur {' '.join(args)}` names no sub-command"
        if path == ["run"]:
            assert ctx.params["service"] in SERVICES, args


def test_a_wrong_container_command_is_caught():
    import typer

    with pytest.raises(typer.TyperException, match="Missing"):
        resolve(["run"])
    with pytest.raises(typer.TyperException, match="No such option"):
        resolve(["migrate", "--bogus"])
    with pytest.raises(typer.TyperException, match="No such option"):
        resolve(["rabbit", "definitions", "--lod"])


def test_each_distinct_container_command_answers_help_from_the_real_cli():
    paths = {tuple(resolve(args)[0]) for args in all_container_commands() if args != ["--help"]}
    for path in sorted(paths):
        result = subprocess.run([sys.executable, "-m", "shared.cli", *path, "--help"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (path, result.stderr[-2000:])
        assert "Usage" in result.stdout


# -- Kubernetes ------------------------------------------------------------------------------

def test_kubernetes_manifests_validate_strictly_against_the_api_schema():
    import kubernetes_validate

    docs = k8s_docs()
    assert docs
    for _, doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_kubernetes_validation_rejects_an_unknown_field():
    import kubernetes_validate

    _, deployment = next((n, d) for n, d in k8s_docs() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["replicaz"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_every_deployable_has_a_deployment_with_probes_resources_config_and_a_budget():
    docs = [d for _, d in k8s_docs()]
    deployments = {d["spec"]["template"]["spec"]["containers"][0]["args"][-1]
                   if d["spec"]["template"]["spec"]["containers"][0]["args"][0] == "run"
                   else "relay": d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == set(DEPLOYABLES)
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    for deployable, dep in deployments.items():
        name = dep["metadata"]["name"]
        [container] = dep["spec"]["template"]["spec"]["containers"]
        path = "/metrics" if deployable == "relay" else "/health"
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == path, (name, probe)
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        assert {"configMapRef": {"name": "sedulur-config"}} in container["envFrom"]
        assert any(e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"])
        assert container["securityContext"]["runAsNonRoot"] is True
        assert name in budgets and f"{name}-pods" in services
        if deployable != "relay":
            assert container["ports"][0]["containerPort"] == DEFAULT_HTTP_PORTS[deployable]


# -- Prometheus and Grafana -----------------------------------------------------------------

@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-k8s.yml"])
def test_prometheus_config_passes_promtool(config):
    result = subprocess.run([tool("promtool"), "check", "config", config], cwd=PROMETHEUS,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    rules = sorted(str(p) for p in (PROMETHEUS / "rules").glob("*.yml"))
    check = subprocess.run([tool("promtool"), "check", "rules", *rules],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = sorted(str(p) for p in (PROMETHEUS / "tests").glob("*.yml"))
    run = subprocess.run([tool("promtool"), "test", "rules", *tests], cwd=PROMETHEUS / "tests",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_alerts_cover_relay_lag_dead_letters_breach_rate_and_service_down():
    doc = yaml.safe_load((PROMETHEUS / "rules" / "sedulur.rules.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert "sedulur_relay_lag_events" in alerts["SedulurRelayLagEvents"]
    assert "sedulur_relay_lag_seconds" in alerts["SedulurRelayLagSeconds"]
    assert "sedulur.dead-letters" in alerts["SedulurDeadLettersNotEmpty"]
    assert "SlaBreached" in alerts["SedulurSlaBreachRateHigh"]
    assert "up{" in alerts["SedulurServiceDown"]


def code_metric_names() -> set[str]:
    """Every metric family the kernel registers, with the sample suffixes Prometheus adds."""
    from prometheus_client import REGISTRY

    import services.sla.metrics  # noqa: F401
    import shared.metrics  # noqa: F401
    import shared.nameko_ext  # noqa: F401
    import shared.relay  # noqa: F401

    names: set[str] = {"sedulur_queue_messages", "sedulur_queue_stats_up"}
    for collector in list(REGISTRY._collector_to_names):  # noqa: SLF001
        names |= set(REGISTRY._collector_to_names[collector])  # noqa: SLF001
    return names


def referenced_metrics(text: str) -> set[str]:
    return set(re.findall(r"\b(sedulur_[a-z_]+)\b", text))


def test_rules_and_dashboard_use_only_metrics_the_code_exports():
    known = code_metric_names()
    dashboard = (DEPLOY / "grafana" / "dashboards" / "sedulur-flow.json").read_text()
    rules = (PROMETHEUS / "rules" / "sedulur.rules.yml").read_text()
    unknown = {m for m in referenced_metrics(dashboard + rules) if m not in known}
    assert unknown == set()


def test_grafana_dashboard_is_provisioned_and_every_panel_queries_prometheus():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "sedulur-flow.json").read_text())
    assert dashboard["uid"] == "sedulur-flow"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 8
    for panel in panels:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "sedulur-prometheus"
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources"
                                 / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "sedulur-prometheus"
