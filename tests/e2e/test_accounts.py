"""End to end: accounts through the gateway on the local stack, and FranceConnect against a
real OpenID Connect provider process (oidc-provider-mock, run as its own server)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from deploy.local import processes
from deploy.local.demo import (
    DEMO_PASSWORD,
    link_token,
    log_in,
    new_candidate,
    wait_for_mail,
)
from deploy.local.stack import LocalStack, StackPorts

pytestmark = pytest.mark.timeout(300)

CLIENT_ID = "permis-test-client"
FC_USER = {
    "sub": "fc-angela-dubois",
    "email": "angela.dubois@fc.example.fr",
    "email_verified": True,
    "given_name": "Angela Claire Louise",
    "family_name": "Dubois",
    "birthdate": "1962-08-24",
    "gender": "female",
    "birthplace": "75107",
    "birthcountry": "99100",
}


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = processes.free_port()
    child = processes.spawn(
        "oidc-provider",
        [
            sys.executable,
            "-m",
            "oidc_provider_mock",
            "--port",
            str(port),
            "--require-nonce",
            "--user-claims",
            json.dumps(FC_USER),
        ],
        tmp_path_factory.mktemp("oidc"),
        ports={"http": port},
    )
    try:
        processes.wait_until(lambda: processes.port_open(port), child, 30, "HTTP port")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stop()


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, oidc_provider: str
) -> AsyncIterator[LocalStack]:
    overrides = {
        "franceconnect_issuer": oidc_provider,
        "franceconnect_client_id": CLIENT_ID,
        "franceconnect_client_secret": "client-secret",
        "franceconnect_scopes": "openid profile email",
    }
    async with LocalStack(tmp_path_factory.mktemp("stack"), StackPorts.free(), overrides) as up:
        yield up


@pytest.fixture
async def http(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


async def test_sign_up_activate_log_out_and_in(stack: LocalStack, http: httpx.AsyncClient) -> None:
    candidate = await new_candidate(http)  # the sign-up form, both emails, logged in
    me = (await http.get("/v1/me")).json()
    assert (me["email"], me["identifier"]) == (candidate.email, candidate.identifier)

    # The activation link served once.
    body = await wait_for_mail(stack.mail_dir, candidate.email, "Activez votre compte")
    again = await http.post(
        "/v1/accounts/activation", json={"token": link_token(body), "password": DEMO_PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "link_used"
    unknown = await http.post(
        "/v1/accounts/activation", json={"token": "inconnu", "password": DEMO_PASSWORD}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "link_unknown")

    assert (await http.post("/v1/sessions/logout")).status_code == 204
    refused = await http.get("/v1/me")
    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")

    await log_in(http, candidate.identifier, DEMO_PASSWORD)
    assert (await http.get("/v1/me")).status_code == 200


async def test_lockout_answers_429_with_retry_after(http: httpx.AsyncClient) -> None:
    candidate = await new_candidate(http)
    answers = []
    for _ in range(5):
        answer = await http.post(
            "/v1/sessions", json={"login": candidate.identifier, "password": "pas le bon"}
        )
        answers.append(answer.status_code)
    assert answers == [401, 401, 401, 401, 429]
    locked = await http.post(
        "/v1/sessions", json={"login": candidate.identifier, "password": DEMO_PASSWORD}
    )
    assert (locked.status_code, locked.json()["code"]) == (429, "account_locked")
    assert 0 < int(locked.headers["Retry-After"]) <= 60


async def test_password_reset_never_says_whether_the_email_exists(
    stack: LocalStack, http: httpx.AsyncClient
) -> None:
    candidate = await new_candidate(http)
    known = await http.post("/v1/password-reset", json={"email": candidate.email})
    unknown = await http.post("/v1/password-reset", json={"email": "personne@example.fr"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    body = await wait_for_mail(stack.mail_dir, candidate.email, "Réinitialisation")
    confirmed = await http.post(
        "/v1/password-reset/confirm",
        json={"token": link_token(body), "password": "mon nouveau mot de passe"},
    )
    assert confirmed.status_code == 204
    assert (await http.get("/v1/me")).status_code == 401  # sessions closed
    await log_in(http, candidate.email, "mon nouveau mot de passe")


async def franceconnect_round(http: httpx.AsyncClient) -> httpx.Response:
    """The browser's part: our login redirect, the provider's consent, the callback."""
    start = await http.get("/v1/franceconnect/login")
    assert start.status_code == 302
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"]
    assert {"state", "nonce", "code_challenge"} <= set(query)
    callback = str(http.base_url).rstrip("/") + "/v1/franceconnect/callback"
    assert query["redirect_uri"] == [callback]
    async with httpx.AsyncClient(timeout=30) as browser:
        consent = await browser.post(authorize, data={"sub": FC_USER["sub"]})
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    assert parse_qs(back.query)["state"] == query["state"]
    return await http.get(f"/v1/franceconnect/callback?{back.query}")


async def test_franceconnect_creates_then_finds_the_account(http: httpx.AsyncClient) -> None:
    answer = await franceconnect_round(http)
    assert answer.status_code == 200, answer.text
    session = answer.json()
    http.headers["Authorization"] = f"Bearer {session['token']}"
    me = (await http.get("/v1/me")).json()
    assert me["franceconnect"] is True
    assert me["email"] == FC_USER["email"]
    assert me["civil_status"] == {
        "given_name": "Angela Claire Louise",
        "family_name": "Dubois",
        "birthdate": "1962-08-24",
        "birthplace": "75107",
        "birthcountry": "99100",
        "gender": "female",
    }
    # The flow cookie was spent: replaying the callback is refused.
    replay = await http.get("/v1/franceconnect/callback?code=x&state=y")
    assert (replay.status_code, replay.json()["code"]) == (401, "franceconnect_failed")

    del http.headers["Authorization"]
    second = await franceconnect_round(http)
    assert second.json()["account"]["account_id"] == me["account_id"]


async def test_franceconnect_refuses_a_forged_state(http: httpx.AsyncClient) -> None:
    start = await http.get("/v1/franceconnect/login")
    assert start.status_code == 302
    forged = await http.get("/v1/franceconnect/callback?code=abc&state=forged")
    assert (forged.status_code, forged.json()["code"]) == (401, "franceconnect_failed")
