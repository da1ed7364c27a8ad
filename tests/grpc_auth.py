"""Channels whose calls carry a service token, as the real callers' do.

``start_server(..., service_secret=...)`` and every real service process refuse calls
without one; ``channel_as(address, role)`` gives a test the credentials of a role.
"""

from __future__ import annotations

import grpc

from services.common.auth import Principal
from services.common.clients import open_channel
from services.common.settings import Settings


def channel_as(
    address: str,
    role: str,
    *,
    subject: str = "test",
    department: str | None = None,
    settings: Settings | None = None,
) -> grpc.aio.Channel:
    """An async channel to ``address`` acting as ``subject`` with ``role``."""
    return open_channel(address, settings or Settings(), Principal(subject, role, department))
