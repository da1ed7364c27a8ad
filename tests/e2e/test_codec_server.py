"""The codec server: round trip over HTTP, 401 without the token, and a real history on
the dev server that holds only ciphertext, which the codec server turns back into JSON."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
from google.protobuf import json_format
from temporalio import workflow
from temporalio.api.common.v1 import Payloads
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.codec_server.app import create_app
from services.common.payload_codec import ENCODING
from services.common.settings import Settings

TOKEN = "operator-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}


@pytest.fixture
async def http() -> httpx.AsyncClient:
    app = create_app(Settings(codec_server_token=TOKEN))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://codec"
    ) as client:
        yield client


def json_payloads(*values: object) -> dict:
    return {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(json.dumps(v).encode()).decode(),
            }
            for v in values
        ]
    }


async def test_round_trip_over_http(http: httpx.AsyncClient) -> None:
    plain = json_payloads({"nom": "Dupont"}, [1, 2])
    encoded = await http.post("/encode", json=plain, headers=AUTH)
    assert encoded.status_code == 200
    for payload in encoded.json()["payloads"]:
        assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
        assert b"Dupont" not in base64.b64decode(payload["data"])
    decoded = await http.post("/decode", json=encoded.json(), headers=AUTH)
    assert decoded.status_code == 200
    assert decoded.json() == plain


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_without_the_token_401(http: httpx.AsyncClient, headers: dict) -> None:
    for path in ("/encode", "/decode"):
        response = await http.post(path, json=json_payloads("x"), headers=headers)
        assert response.status_code == 401


async def test_cors_admits_the_temporal_ui(http: httpx.AsyncClient) -> None:
    origin = Settings().temporal_ui_url
    preflight = await http.options(
        "/decode",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin


@workflow.defn(name="CodecEcho", sandboxed=False)
class Echo:
    @workflow.run
    async def run(self, candidate: dict) -> dict:
        return {"bonjour": candidate["nom"]}


async def test_history_holds_only_ciphertext_that_the_codec_server_reads(
    temporal_env: WorkflowEnvironment, http: httpx.AsyncClient
) -> None:
    client = temporal_env.client
    queue = f"codec-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Echo]):
        handle = await client.start_workflow(
            Echo.run, {"nom": "Dupont"}, id=f"codec-{uuid.uuid4()}", task_queue=queue
        )
        assert await handle.result() == {"bonjour": "Dupont"}
    history = await handle.fetch_history()
    raw = history.to_json()
    assert "Dupont" not in raw and base64.b64encode(b"Dupont").decode() not in raw
    payloads = []
    for event in history.events:
        for field in (
            "workflow_execution_started_event_attributes",
            "workflow_execution_completed_event_attributes",
        ):
            if event.HasField(field):
                attributes = getattr(event, field)
                holder = attributes.input if hasattr(attributes, "input") else attributes.result
                payloads += list(holder.payloads)
    assert len(payloads) == 2
    assert all(p.metadata["encoding"] == ENCODING for p in payloads)
    body = json_format.MessageToDict(Payloads(payloads=payloads))
    decoded = (await http.post("/decode", json=body, headers=AUTH)).json()["payloads"]
    values = [json.loads(base64.b64decode(p["data"])) for p in decoded]
    assert values == [{"nom": "Dupont"}, {"bonjour": "Dupont"}]
