"""How the gateway names Temporal's failures to the candidate (services/gateway/journeys.py)."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from services.common.errors import ErrorCode
from services.gateway.journeys import _refusal


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (RPCStatusCode.UNAVAILABLE, "tcp connect error"),
        (RPCStatusCode.DEADLINE_EXCEEDED, "deadline"),
        # What the SDK raised while the dev server restarted (chaos test).
        (RPCStatusCode.UNKNOWN, "transport error"),
        (RPCStatusCode.CANCELLED, "Timeout expired"),
        (RPCStatusCode.FAILED_PRECONDITION, "Workflow Task in failed state."),
    ],
)
def test_an_unreachable_server_is_a_503_to_try_again(status: RPCStatusCode, message: str) -> None:
    assert _refusal(RPCError(message, status, b"")).code is ErrorCode.SERVICE_UNAVAILABLE


def test_an_unknown_journey_is_not_found() -> None:
    refusal = _refusal(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""))
    assert refusal.code is ErrorCode.REQUEST_NOT_FOUND


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (RPCStatusCode.INVALID_ARGUMENT, "bad"),
        (RPCStatusCode.FAILED_PRECONDITION, "something else"),
        (RPCStatusCode.PERMISSION_DENIED, "no"),
    ],
)
def test_anything_else_stays_an_error_of_ours(status: RPCStatusCode, message: str) -> None:
    error = RPCError(message, status, b"")
    with pytest.raises(RPCError) as raised:
        _refusal(error)
    assert raised.value is error
