"""FranceConnect: OpenID Connect authorization code flow with PKCE, state and nonce.

``GET /v1/franceconnect/login`` redirects to the provider; the state, nonce and PKCE
verifier travel in a short-lived HMAC-signed HttpOnly cookie (no gateway database, any
gateway replica can finish the flow). ``GET /v1/franceconnect/callback`` checks the
state, exchanges the code (with the verifier), validates the id_token (signature by the
provider's JWKS, iss, aud, exp, iat, nonce), reads the userinfo claims, and has the
identity service link or create the account; the answer is a session like a login's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from permis.identity.v1 import identity_pb2
from services.common.errors import ErrorCode, PermisError
from services.common.settings import Settings
from services.gateway.deps import ClientsDep, SettingsDep
from services.gateway.grpc_calls import call

router = APIRouter(prefix="/franceconnect", tags=["compte"])
log = logging.getLogger(__name__)

COOKIE = "permis_franceconnect"
FLOW_SECONDS = 600  # the candidate has 10 minutes at the provider
ALGORITHMS = ("RS256", "ES256")
CLOCK_SKEW_SECONDS = 60
HTTP_TIMEOUT = 10.0
CLAIMS = ("email", "given_name", "family_name", "birthdate", "birthplace", "birthcountry", "gender")

# issuer -> (fetched at, discovery document, JWKS)
_PROVIDERS: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}
PROVIDER_CACHE_SECONDS = 3600


def failed(reason: str) -> PermisError:
    log.warning("FranceConnect refused: %s", reason)
    return PermisError(ErrorCode.FRANCECONNECT_FAILED)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _cookie_key(settings: Settings) -> bytes:
    secret = settings.session_secret.encode()
    return hmac.new(secret, b"franceconnect-flow", hashlib.sha256).digest()


def sign_flow(settings: Settings, flow: dict[str, Any]) -> str:
    body = _b64(json.dumps(flow, separators=(",", ":")).encode())
    mac = _b64(hmac.new(_cookie_key(settings), body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def read_flow(settings: Settings, cookie: str | None, now: float) -> dict[str, Any]:
    if not cookie or cookie.count(".") != 1:
        raise failed("no flow cookie")
    body, mac = cookie.split(".")
    expected = _b64(hmac.new(_cookie_key(settings), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        raise failed("flow cookie signature")
    try:
        flow = json.loads(_unb64(body))
    except ValueError as error:
        raise failed("flow cookie content") from error
    if not isinstance(flow, dict) or not isinstance(flow.get("e"), int) or flow["e"] < now:
        raise failed("flow expired")
    return flow


async def provider(
    settings: Settings, http: httpx.AsyncClient
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The provider's discovery document and JWKS (cached for an hour)."""
    issuer = settings.franceconnect_issuer.rstrip("/")
    if not issuer or not settings.franceconnect_client_id:
        raise PermisError(ErrorCode.FRANCECONNECT_DISABLED)
    cached = _PROVIDERS.get(issuer)
    if cached is not None and time.monotonic() - cached[0] < PROVIDER_CACHE_SECONDS:
        return cached[1], cached[2]
    try:
        discovery = await http.get(f"{issuer}/.well-known/openid-configuration")
        meta = discovery.raise_for_status().json()
        jwks = (await http.get(meta["jwks_uri"])).raise_for_status().json()
    except (httpx.HTTPError, KeyError, ValueError) as error:
        log.warning("FranceConnect discovery failed: %r", error)
        raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error
    if str(meta.get("issuer", "")).rstrip("/") != issuer:
        raise failed(f"discovery issuer {meta.get('issuer')!r} is not {issuer!r}")
    _PROVIDERS[issuer] = (time.monotonic(), meta, jwks)
    return meta, jwks


def verify_jwt(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=list(ALGORITHMS))  # type: ignore[arg-type]
    except (JoseError, ValueError) as error:
        raise failed(f"JWT signature: {error!r}") from error
    return dict(decoded.claims)


def validate_id_token(
    claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str, now: float
) -> None:
    if str(claims.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
        raise failed("id_token iss")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise failed("id_token aud")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise failed("id_token azp")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp + CLOCK_SKEW_SECONDS < now:
        raise failed("id_token expired")
    if isinstance(iat, int | float) and iat - CLOCK_SKEW_SECONDS > now:
        raise failed("id_token issued in the future")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise failed("id_token nonce")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise failed("id_token sub")


@router.get("/login", status_code=302, response_class=RedirectResponse)
async def franceconnect_login(settings: SettingsDep) -> Response:
    """Redirige vers FranceConnect (bouton « S'identifier avec FranceConnect »)."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        meta, _ = await provider(settings, http)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.franceconnect_client_id,
            "redirect_uri": settings.franceconnect_callback_url(),
            "scope": settings.franceconnect_scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
            "acr_values": "eidas1",
        }
    )
    response = RedirectResponse(f"{meta['authorization_endpoint']}?{query}", status_code=302)
    flow = {"s": state, "n": nonce, "v": verifier, "e": int(time.time()) + FLOW_SECONDS}
    response.set_cookie(
        COOKIE,
        sign_flow(settings, flow),
        max_age=FLOW_SECONDS,
        path="/v1/franceconnect",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET
        secure=settings.public_url().startswith("https://"),
    )
    return response


@router.get("/callback")
async def franceconnect_callback(
    request: Request, settings: SettingsDep, clients: ClientsDep
) -> Response:
    """Retour de FranceConnect : le compte est relié (ou créé) et connecté."""
    from services.gateway.routes.accounts import session_out

    now = time.time()
    flow = read_flow(settings, request.cookies.get(COOKIE), now)
    params = request.query_params
    if not hmac.compare_digest(params.get("state", ""), flow["s"]):
        raise failed("state mismatch")
    if "error" in params or not params.get("code"):
        raise failed(f"provider error {params.get('error')!r}")
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        meta, jwks = await provider(settings, http)
        try:
            tokens = (
                (
                    await http.post(
                        meta["token_endpoint"],
                        data={
                            "grant_type": "authorization_code",
                            "code": params["code"],
                            "redirect_uri": settings.franceconnect_callback_url(),
                            "client_id": settings.franceconnect_client_id,
                            "client_secret": settings.franceconnect_client_secret,
                            "code_verifier": flow["v"],
                        },
                    )
                )
                .raise_for_status()
                .json()
            )
        except (httpx.HTTPError, ValueError) as error:
            raise failed(f"token exchange: {error!r}") from error
        if not isinstance(tokens, dict) or not isinstance(tokens.get("id_token"), str):
            raise failed("no id_token")
        claims = verify_jwt(tokens["id_token"], jwks)
        validate_id_token(
            claims,
            issuer=meta["issuer"],
            client_id=settings.franceconnect_client_id,
            nonce=flow["n"],
            now=now,
        )
        userinfo = await read_userinfo(http, meta, jwks, tokens.get("access_token"))
    if userinfo and userinfo.get("sub") != claims["sub"]:
        raise failed("userinfo sub differs from the id_token's")
    identity = {k: userinfo.get(k) or claims.get(k) for k in CLAIMS}
    session = await call(
        clients.identity.SignInWithFranceConnect,
        identity_pb2.FranceConnectIdentity(
            sub=claims["sub"], **{k: str(v) for k, v in identity.items() if v is not None}
        ),
    )
    response = JSONResponse(session_out(session).model_dump(mode="json"))
    response.delete_cookie(COOKIE, path="/v1/franceconnect")
    return response


async def read_userinfo(
    http: httpx.AsyncClient, meta: dict[str, Any], jwks: dict[str, Any], access_token: Any
) -> dict[str, Any]:
    """The userinfo claims: JSON, or a signed JWT (FranceConnect v2)."""
    if not isinstance(access_token, str) or "userinfo_endpoint" not in meta:
        return {}
    try:
        answer = (
            await http.get(
                meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}
            )
        ).raise_for_status()
    except httpx.HTTPError as error:
        raise failed(f"userinfo: {error!r}") from error
    if answer.headers.get("content-type", "").startswith("application/jwt"):
        return verify_jwt(answer.text.strip(), jwks)
    body = answer.json()
    return body if isinstance(body, dict) else {}
