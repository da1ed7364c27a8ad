"""docker-compose.yml agrees with the code: processes, ports, settings, databases, attributes.

Docker cannot run here, so the file is checked by reading it against the sources of
truth: ``Settings``, ``SERVICE_NAMES``, ``workflows.ids`` and the files it mounts.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from temporalio.common import SearchAttributeIndexedValueType

from services.common.settings import SERVICE_NAMES
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

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE_TEXT = COMPOSE_FILE.read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: object) -> str:
    """What compose would substitute: the default after ``:-``, a stand-in for ``:?``."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if operator in (":-", "-"):
            return argument
        return f"{name.lower()}-stand-in-{'x' * 32}"

    return INTERPOLATION.sub(substitute, str(value))


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: use the mapping form of environment"
    return {key: interpolate(value) for key, value in env.items()}


def published(service: str) -> dict[int, int]:
    """Container port -> host port, from ``ports: ["HOST:CONTAINER"]``."""
    pairs = (str(entry).split(":") for entry in SERVICES[service].get("ports", []))
    return {int(container): int(host) for host, container in pairs}


def exposed(service: str) -> set[int]:
    return {int(port) for port in SERVICES[service].get("expose", [])} | set(published(service))


def healthcheck_command(service: str) -> list[str]:
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    return list(test[1:])


def test_every_process_runs_from_the_one_image_with_its_module() -> None:
    for name, module in OUR_PROCESSES.items():
        service = SERVICES[name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert (REPO_ROOT / service["build"]["context"] / "deploy/Dockerfile").exists()
        assert service["image"] == SERVICES["identity"]["image"], name
        assert service["command"] == ["python", "-m", module], name


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_grpc_services_listen_where_settings_and_the_others_say(name: str) -> None:
    port = default_port(f"{name}_address")
    variable = f"PERMIS_{name.upper()}_ADDRESS"
    assert environment(name)[variable] == f"0.0.0.0:{port}"
    assert port in exposed(name)
    assert healthcheck_command(name) == ["python", "-m", "deploy.healthcheck", f"127.0.0.1:{port}"]
    for other in OUR_PROCESSES:
        if other != name:
            assert environment(other)[variable] == f"{name}:{port}", other


def test_gateway_listens_on_the_settings_port() -> None:
    port = default("gateway_port")
    env = environment("gateway")
    assert int(env["PERMIS_GATEWAY_PORT"]) == port
    assert env["PERMIS_GATEWAY_HOST"] == "0.0.0.0"
    assert published("gateway") == {port: port}
    assert healthcheck_command("gateway")[-1] == f"http://127.0.0.1:{port}/healthz"


def test_infrastructure_ports_match_the_settings_defaults() -> None:
    assert published("temporal") == {7233: default_port("temporal_address")}
    assert published("temporal-ui") == {8080: default_port("temporal_ui_url")}
    assert default("smtp_port") in exposed("mailpit")
    env = environment("worker")
    assert env["PERMIS_TEMPORAL_ADDRESS"] == f"temporal:{default_port('temporal_address')}"
    assert env["PERMIS_SMTP_HOST"] == "mailpit"
    assert int(env["PERMIS_SMTP_PORT"]) == default("smtp_port")
    assert env["PERMIS_S3_ENDPOINT"] == "minio:9000"
    assert env["PERMIS_S3_ACCESS_KEY"] == interpolate(
        SERVICES["minio"]["environment"]["MINIO_ROOT_USER"]
    )
    assert env["PERMIS_S3_SECRET_KEY"] == interpolate(
        SERVICES["minio"]["environment"]["MINIO_ROOT_PASSWORD"]
    )


def test_every_permis_variable_is_a_settings_field() -> None:
    assert unknown_permis_variables(COMPOSE_TEXT) == set()


@pytest.mark.parametrize("name", [*SERVICE_NAMES, "worker", "gateway"])
def test_each_process_environment_makes_valid_production_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = production_settings(environment(name), monkeypatch)
    assert settings.environment == "production"


def test_one_database_per_service_created_by_the_init_script() -> None:
    mounts = [str(volume) for volume in SERVICES["postgres"]["volumes"]]
    init = next(m for m in mounts if "/docker-entrypoint-initdb.d/" in m).split(":")[0]
    created = set(re.findall(r"CREATE DATABASE (\w+);", (REPO_ROOT / init).read_text()))
    databases = {}
    for name in SERVICE_NAMES:
        url = environment(name)["PERMIS_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://permis:"), name
        assert "@postgres:5432/" in url, name
        databases[name] = url.rsplit("/", 1)[1]
    assert len(set(databases.values())) == len(SERVICE_NAMES)
    assert created == set(databases.values())


def test_images_are_pinned() -> None:
    for service in SERVICES.values():
        image_tag(service["image"])


def test_dependencies_wait_for_health_where_there_is_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends.items():
            target = SERVICES[dependency]
            if "healthcheck" in target:
                expected = "service_healthy"
            elif target.get("restart") == "no":
                expected = "service_completed_successfully"
            else:
                expected = "service_started"
            assert rule["condition"] == expected, f"{name} -> {dependency}"
    for name in SERVICE_NAMES:
        assert SERVICES["worker"]["depends_on"][name]["condition"] == "service_healthy"
        assert SERVICES["gateway"]["depends_on"][name]["condition"] == "service_healthy"


def test_search_attributes_are_registered_before_the_worker_starts() -> None:
    job = SERVICES["temporal-search-attributes"]
    command = job["command"]
    assert command[:4] == ["temporal", "operator", "search-attribute", "create"]
    flags: dict[str, list[str]] = {}
    for flag, value in zip(command[4::2], command[5::2], strict=True):
        flags.setdefault(flag, []).append(value)
    assert set(flags["--name"]) == {key.name for key in SEARCH_ATTRIBUTES}
    assert len(flags["--name"]) == len(SEARCH_ATTRIBUTES)
    # One --type for all names: the CLI applies it to every one of them.
    assert flags["--type"] == ["Keyword"]
    assert all(
        key.indexed_value_type == SearchAttributeIndexedValueType.KEYWORD
        for key in SEARCH_ATTRIBUTES
    )
    assert flags["--namespace"] == [default("temporal_namespace")]
    assert job["depends_on"]["temporal"]["condition"] == "service_healthy"
    condition = SERVICES["worker"]["depends_on"]["temporal-search-attributes"]["condition"]
    assert condition == "service_completed_successfully"


def test_mounted_files_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).is_file(), f"{name}: {source}"
