"""deploy/k8s/ agrees with the code: processes, ports, probes, settings, secrets, scaling.

Kubernetes cannot run here, so every manifest is parsed and read against the sources
of truth: ``Settings`` and ``SERVICE_NAMES``, the worker's and gateway's shutdown
budgets, ``workflows.ids`` and the Dockerfile's user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url
from temporalio.common import SearchAttributeIndexedValueType

from services.common.settings import SERVICE_NAMES, Settings
from tests.deploy.manifests import (
    OUR_PROCESSES,
    REPO_ROOT,
    default,
    default_port,
    image_tag,
    production_settings,
    unknown_permis_variables,
)
from workflows.ids import SEARCH_ATTRIBUTES
from workflows.worker import GRACEFUL_SHUTDOWN

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
KUSTOMIZATION: dict[str, Any] = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
MANIFEST_FILES = sorted(p for p in K8S_DIR.glob("*.y*ml") if p.name != "kustomization.yaml")
PLACEHOLDER = "REPLACE-ME"
# What the tests put where the Secret templates say REPLACE-ME (32+ characters).
STAND_IN = "stand-in-" + "x" * 32


def _documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFEST_FILES:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path, document


RESOURCES: list[tuple[Path, dict[str, Any]]] = list(_documents())


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for _, resource in RESOURCES:
        if resource["kind"] == kind:
            name = resource["metadata"]["name"]
            assert name not in found, f"two {kind} named {name}"
            found[name] = resource
    return found


NAMESPACE = KUSTOMIZATION["namespace"]
DEPLOYMENTS = resources("Deployment")
K8S_SERVICES = resources("Service")
CONFIG_MAPS = {name: cm["data"] for name, cm in resources("ConfigMap").items()}
SECRETS = {name: secret["stringData"] for name, secret in resources("Secret").items()}
JOBS = resources("Job")
HPAS = resources("HorizontalPodAutoscaler")
PDBS = resources("PodDisruptionBudget")
(SETTINGS_MAP,) = CONFIG_MAPS.values()  # the one ConfigMap of PERMIS_* settings


def pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod template: the Deployments' and the Jobs'."""
    return {
        name: workload["spec"]["template"]["spec"]
        for name, workload in {**DEPLOYMENTS, **JOBS}.items()
    }


def container(name: str) -> dict[str, Any]:
    (only,) = DEPLOYMENTS[name]["spec"]["template"]["spec"]["containers"]
    return dict(only)


def pod_labels(name: str) -> dict[str, str]:
    return dict(DEPLOYMENTS[name]["spec"]["template"]["metadata"]["labels"])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def env_value(value: str, *, filled: bool) -> str:
    return value.replace(PLACEHOLDER, STAND_IN) if filled else value


def environment(spec: dict[str, Any], *, filled: bool = True) -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom, then env on top.

    Secret values are the templates' placeholders, replaced by a stand-in if ``filled``.
    """
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            env.update(CONFIG_MAPS[source["configMapRef"]["name"]])
        else:
            secret = SECRETS[source["secretRef"]["name"]]
            env.update({key: env_value(value, filled=filled) for key, value in secret.items()})
    for item in spec.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = env_value(SECRETS[ref["name"]][ref["key"]], filled=filled)
        else:
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = CONFIG_MAPS[ref["name"]][ref["key"]]
    return env


def probes(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        kind: spec[kind]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        if kind in spec
    }


def pre_stop_seconds(spec: dict[str, Any]) -> float:
    command = spec.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    if command is None:
        return 0.0
    assert command[0] == "sleep" and len(command) == 2, command
    return float(command[1])


def quantity(value: str | int | float) -> float:
    """A Kubernetes quantity as a number: cores for CPU, bytes for memory."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda unit: -len(unit[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def settings_for(name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return production_settings(environment(container(name)), monkeypatch)


# --- the files --------------------------------------------------------------------


def test_kustomization_lists_every_manifest_file() -> None:
    listed = KUSTOMIZATION["resources"]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert sorted(listed) == sorted(path.name for path in MANIFEST_FILES)
    assert RESOURCES, "no manifest parsed"


def test_everything_lives_in_the_permis_namespace() -> None:
    (namespace,) = resources("Namespace")
    assert namespace == NAMESPACE == "permis"
    for path, resource in RESOURCES:
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == NAMESPACE, (path.name, resource)


def test_every_resource_of_a_file_belongs_to_the_process_it_is_named_after() -> None:
    for path, resource in RESOURCES:
        if path.stem in OUR_PROCESSES:
            assert resource["metadata"]["name"] == path.stem, (path.name, resource["kind"])


# --- processes, image, ports, probes -----------------------------------------------


def test_every_process_runs_its_module_from_the_one_pinned_image() -> None:
    assert set(DEPLOYMENTS) == set(OUR_PROCESSES)
    images = {container(name)["image"] for name in OUR_PROCESSES}
    images |= {c["image"] for spec in pod_specs().values() for c in spec["containers"]}
    (image,) = images
    tag = image_tag(image)
    for name, module in OUR_PROCESSES.items():
        assert container(name)["command"] == ["python", "-m", module], name
    # The kustomization pins the same image, and it is the release compose builds.
    (pinned,) = KUSTOMIZATION["images"]
    assert f"{pinned['name']}:{pinned['newTag']}" == image
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert tag == image_tag(compose["services"]["identity"]["image"])


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_grpc_service_listens_and_is_probed_on_the_settings_port(name: str) -> None:
    port = default_port(f"{name}_address")
    spec = container(name)
    assert [p["containerPort"] for p in spec["ports"]] == [port]
    assert environment(spec)[f"PERMIS_{name.upper()}_ADDRESS"] == f"0.0.0.0:{port}"
    checks = probes(spec)
    assert {"readinessProbe", "livenessProbe"} <= set(checks)
    for kind, probe in checks.items():
        # Native gRPC health probe, whole-server status (what serve() reports).
        assert probe["grpc"]["port"] == port, kind
        assert probe["grpc"].get("service", "") == "", kind


@pytest.mark.parametrize("name", [*SERVICE_NAMES, "gateway"])
def test_service_targets_the_deployment_port(name: str) -> None:
    service = K8S_SERVICES[name]["spec"]
    assert service.get("type", "ClusterIP") == "ClusterIP"
    matching = [d for d in DEPLOYMENTS if selects(service["selector"], pod_labels(d))]
    assert matching == [name]
    spec = container(name)
    by_name = {p["name"]: p["containerPort"] for p in spec["ports"]}
    (port,) = service["ports"]
    target = port["targetPort"]
    target = by_name[target] if isinstance(target, str) else target
    expected = default("gateway_port") if name == "gateway" else default_port(f"{name}_address")
    assert target == expected
    assert port["port"] == expected  # clients use the same port as on a laptop


def test_gateway_listens_and_is_probed_on_the_settings_port() -> None:
    port = default("gateway_port")
    spec = container("gateway")
    assert [p["containerPort"] for p in spec["ports"]] == [port]
    env = environment(spec)
    assert env["PERMIS_GATEWAY_HOST"] == "0.0.0.0"
    assert int(env["PERMIS_GATEWAY_PORT"]) == port
    checks = probes(spec)
    assert {"readinessProbe", "livenessProbe"} <= set(checks)
    for kind, probe in checks.items():
        assert probe["httpGet"] == {"path": "/healthz", "port": port}, kind


def test_worker_serves_nothing() -> None:
    spec = container("worker")
    assert "ports" not in spec
    assert not probes(spec).keys() & {"readinessProbe", "startupProbe"}
    assert not [
        s for s in K8S_SERVICES.values() if selects(s["spec"]["selector"], pod_labels("worker"))
    ]


def test_deployment_selectors_match_their_pods() -> None:
    for name, deployment in DEPLOYMENTS.items():
        assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels(name)), name
        assert pod_labels(name)["app.kubernetes.io/name"] == name


# --- settings and secrets ------------------------------------------------------------


def test_every_permis_variable_is_a_settings_field() -> None:
    text = "\n".join(path.read_text() for path in MANIFEST_FILES)
    assert unknown_permis_variables(text) == set()
    names = set(SETTINGS_MAP)
    names |= {key for secret in SECRETS.values() for key in secret if key.startswith("PERMIS")}
    for spec in pod_specs().values():
        for c in spec["containers"]:
            names |= {
                item["name"] for item in c.get("env", []) if item["name"].startswith("PERMIS")
            }
    assert {name.removeprefix("PERMIS_").lower() for name in names} <= set(Settings.model_fields)


def test_every_reference_to_a_config_map_or_secret_resolves() -> None:
    for workload, spec in pod_specs().items():
        for c in spec["containers"]:
            for source in c.get("envFrom", []):
                kind, ref = next(iter(source.items()))
                store = CONFIG_MAPS if kind == "configMapRef" else SECRETS
                assert ref["name"] in store, (workload, ref)
            for item in c.get("env", []):
                for kind, ref in item.get("valueFrom", {}).items():
                    store = CONFIG_MAPS if kind == "configMapKeyRef" else SECRETS
                    assert ref["key"] in store[ref["name"]], (workload, ref)


def test_config_map_points_at_the_services_by_cluster_dns_name() -> None:
    for name in SERVICE_NAMES:
        (port,) = K8S_SERVICES[name]["spec"]["ports"]
        expected = f"{name}.{NAMESPACE}.svc:{port['port']}"
        assert SETTINGS_MAP[f"PERMIS_{name.upper()}_ADDRESS"] == expected
    assert SETTINGS_MAP["PERMIS_TEMPORAL_ADDRESS"].endswith(":7233")
    assert SETTINGS_MAP["PERMIS_TEMPORAL_NAMESPACE"] == "permis"
    assert SETTINGS_MAP["PERMIS_TEMPORAL_TASK_QUEUE"] == default("temporal_task_queue")


@pytest.mark.parametrize("name", list(OUR_PROCESSES))
def test_each_process_environment_makes_valid_production_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(name, monkeypatch)
    assert settings.environment == "production"
    assert settings.session_secret == STAND_IN
    if name in SERVICE_NAMES:
        url = make_url(settings.database_url_for(name))
        assert url.drivername == "postgresql+psycopg"
        assert url.database == f"permis_{name}"
        assert url.username == f"permis_{name}"
    else:
        assert "PERMIS_DATABASE_URL" not in environment(container(name))


def test_production_everywhere_and_never_overridden() -> None:
    assert SETTINGS_MAP["PERMIS_ENVIRONMENT"] == "production"
    for workload, spec in pod_specs().items():
        for c in spec["containers"]:
            env = environment(c)
            if any(key.startswith("PERMIS_") for key in env):
                assert env["PERMIS_ENVIRONMENT"] == "production", workload


def test_each_service_reads_only_its_own_database() -> None:
    urls = SECRETS["permis-databases"]
    assert set(urls) == set(SERVICE_NAMES)
    assert len({make_url(url).database for url in urls.values()}) == len(SERVICE_NAMES)
    for name in SERVICE_NAMES:
        refs = [
            item["valueFrom"]["secretKeyRef"]
            for item in container(name).get("env", [])
            if item["name"] == "PERMIS_DATABASE_URL"
        ]
        assert refs == [{"name": "permis-databases", "key": name}]
    for workload, spec in pod_specs().items():
        for c in spec["containers"]:
            for source in c.get("envFrom", []):
                assert source.get("secretRef", {}).get("name") != "permis-databases", workload


def test_secrets_are_templates_that_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, secret in SECRETS.items():
        for key, value in secret.items():
            assert PLACEHOLDER in value, f"{name}.{key} looks like a real value"
    # Applied unchanged, the placeholders stop every process at start-up.
    for process in OUR_PROCESSES:
        env = environment(container(process), filled=False)
        with pytest.raises(ValueError, match="PERMIS_SESSION_SECRET"):
            production_settings(env, monkeypatch)


# --- shutdown budgets ---------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_grpc_services_get_longer_than_their_drain(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    grace = settings_for(name, monkeypatch).grpc_shutdown_grace_seconds
    spec = DEPLOYMENTS[name]["spec"]["template"]["spec"]
    needed = pre_stop_seconds(container(name)) + grace
    assert spec["terminationGracePeriodSeconds"] > needed


def test_worker_gets_longer_than_its_graceful_shutdown() -> None:
    spec = DEPLOYMENTS["worker"]["spec"]["template"]["spec"]
    needed = pre_stop_seconds(container("worker")) + GRACEFUL_SHUTDOWN.total_seconds()
    assert spec["terminationGracePeriodSeconds"] > needed


def test_gateway_gets_longer_than_uvicorn_graceful_shutdown() -> None:
    source = (REPO_ROOT / "services" / "gateway" / "__main__.py").read_text()
    match = re.search(r"timeout_graceful_shutdown=(\d+)", source)
    assert match, "the gateway no longer sets uvicorn's timeout_graceful_shutdown"
    spec = DEPLOYMENTS["gateway"]["spec"]["template"]["spec"]
    needed = pre_stop_seconds(container("gateway")) + int(match.group(1))
    assert spec["terminationGracePeriodSeconds"] > needed


# --- scaling and disruptions ---------------------------------------------------------


def test_autoscalers_drive_the_worker_and_the_gateway() -> None:
    targets = {}
    for name, hpa in HPAS.items():
        assert hpa["apiVersion"] == "autoscaling/v2", name
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment"), name
        targets[ref["name"]] = hpa["spec"]
    assert set(targets) == {"worker", "gateway"}
    for name, spec in targets.items():
        assert name in DEPLOYMENTS
        # The HPA owns the count: a replicas field would reset it at every apply.
        assert "replicas" not in DEPLOYMENTS[name]["spec"], name
        assert 2 <= spec["minReplicas"] < spec["maxReplicas"], name
        assert spec["metrics"], name
        # CPU utilisation is relative to requests: there must be some.
        assert container(name)["resources"]["requests"]["cpu"], name


def test_disruption_budgets_keep_a_worker_and_a_gateway_up() -> None:
    covered = {}
    for pdb in PDBS.values():
        assert pdb["apiVersion"] == "policy/v1"
        selector = pdb["spec"]["selector"]["matchLabels"]
        (target,) = [d for d in DEPLOYMENTS if selects(selector, pod_labels(d))]
        covered[target] = pdb["spec"]
    assert set(covered) == {"worker", "gateway"}
    minimum = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["minReplicas"] for hpa in HPAS.values()
    }
    for name, spec in covered.items():
        assert spec["maxUnavailable"] < minimum[name], name


# --- pod hardening and resources ------------------------------------------------------


def test_pods_run_as_the_image_user_without_privileges() -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    uid = int(re.search(r"--uid (\d+)", dockerfile).group(1))  # type: ignore[union-attr]
    for name, spec in pod_specs().items():
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == uid, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        writable = {volume["mountPath"] for c in spec["containers"] for volume in c["volumeMounts"]}
        for c in spec["containers"]:
            security = c["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert security["readOnlyRootFilesystem"] is True, name
        # The read-only root leaves /tmp and the data directory (the image's home) writable.
        assert "/tmp" in writable, name
        assert "/var/lib/permis" in writable, name
        env = environment(spec["containers"][0])
        assert env.get("PERMIS_DATA_DIR", "/var/lib/permis") == "/var/lib/permis", name


def test_every_container_has_requests_within_limits() -> None:
    for name, spec in pod_specs().items():
        for c in spec["containers"]:
            resources = c["resources"]
            for resource in ("cpu", "memory"):
                request = quantity(resources["requests"][resource])
                limit = quantity(resources["limits"][resource])
                assert 0 < request <= limit, (name, resource)
            # A small system: nothing asks for more than a core or a GiB.
            assert quantity(resources["limits"]["cpu"]) <= 1, name
            assert quantity(resources["limits"]["memory"]) <= 2**30, name


# --- Temporal set-up ------------------------------------------------------------------


def test_setup_job_registers_our_search_attributes_in_our_namespace() -> None:
    (job,) = JOBS.values()
    (c,) = job["spec"]["template"]["spec"]["containers"]
    script = " ".join(c["command"])
    names = re.findall(r"--name (\w+)", script)
    assert sorted(names) == sorted(key.name for key in SEARCH_ATTRIBUTES)
    assert re.findall(r"--type (\w+)", script) == ["Keyword"]
    assert all(
        key.indexed_value_type == SearchAttributeIndexedValueType.KEYWORD
        for key in SEARCH_ATTRIBUTES
    )
    env = environment(c)
    # The temporal CLI reads these; the same values our processes use.
    assert env["TEMPORAL_ADDRESS"] == SETTINGS_MAP["PERMIS_TEMPORAL_ADDRESS"]
    assert env["TEMPORAL_NAMESPACE"] == SETTINGS_MAP["PERMIS_TEMPORAL_NAMESPACE"]
    assert "temporal operator namespace create" in script


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    """Strict schema check (unknown fields fail), when kubernetes-validate is installed."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for _, resource in RESOURCES:
        kubernetes_validate.validate(resource, "1.30.0", strict=True)
