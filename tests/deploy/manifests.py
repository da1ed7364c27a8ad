"""What the deployment tests share: our processes, the Settings defaults, env checks.

docker-compose.yml (test_compose.py) and deploy/k8s/ (test_k8s.py) describe the same
processes; both are read against the same sources of truth here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from services.common.settings import SERVICE_NAMES, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every process of ours, and the module its container runs with ``python -m``.
OUR_PROCESSES: dict[str, str] = {
    **{name: f"services.{name}" for name in SERVICE_NAMES},
    "worker": "workflows.worker",
    "gateway": "services.gateway",
}

PERMIS_VARIABLE = re.compile(r"\bPERMIS_([A-Z0-9_]+)")


def default(field: str) -> Any:
    return Settings.model_fields[field].default


def default_port(field: str) -> int:
    return int(str(default(field)).rsplit(":", 1)[1])


def unknown_permis_variables(text: str) -> set[str]:
    """``PERMIS_*`` names in ``text`` that are not ``Settings`` fields (asserts some are)."""
    used = set(PERMIS_VARIABLE.findall(text))
    assert used, "no PERMIS_* variable found"
    return {f"PERMIS_{name}" for name in used if name.lower() not in Settings.model_fields}


def production_settings(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``Settings()`` as a process with exactly these ``PERMIS_*`` variables builds it."""
    for variable in list(os.environ):
        if variable.startswith("PERMIS_"):
            monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return Settings()


def image_tag(image: str) -> str:
    """The tag of a pinned image reference; fails on a missing or ``latest`` tag."""
    repository, _, tag = image.rpartition(":")
    assert repository and tag and "/" not in tag, f"{image} has no tag"
    assert tag != "latest", image
    return tag
