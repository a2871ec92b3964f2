"""The study server's HTTP side (pages/components/study_routes.py), driven as an ASGI app without a network: the
admin sign-in page and its HttpOnly session cookie, lockout per client, cross-site refusal, security headers, the
participants' device cookie, and ``serve.py`` refusing a short admin token at start."""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pages.components import study_routes
from xai_core import study

SECRET = "server-test-admin-token-0123456789"
REPO = Path(__file__).resolve().parents[1]


def app() -> Starlette:
    async def page(request: Any) -> PlainTextResponse:  # stands in for Streamlit's index.html and its API
        kind = "text/html" if request.url.path == "/" else "application/json"
        return PlainTextResponse("ok", media_type=kind)

    routes = [*study_routes.routes(), Route("/", page), Route("/_stcore/health", page)]
    return Starlette(routes=routes, middleware=study_routes.middleware())


def call(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    client: str = "10.9.0.1",
    scheme: str = "http",
) -> tuple[int, list[tuple[str, str]], str]:
    """One request through the ASGI app: (status, headers as (lower-case name, value), body text)."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "study.test", **(headers or {})}.items()],
        "client": (client, 50000),
        "server": ("study.test", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app()(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
    return start["status"], [(k.decode().lower(), v.decode()) for k, v in start["headers"]], text


def header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k == name]


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(study.ENV_ADMIN_TOKEN, SECRET)
    monkeypatch.setattr(study_routes, "FAILED_SIGN_IN_DELAY_S", 0.0)


def sign_in(token: str, origin: str | None = None, **kwargs: Any) -> tuple[int, list[tuple[str, str]], str]:
    form = {"content-type": "application/x-www-form-urlencoded", **({"origin": origin} if origin else {})}
    return call("POST", study_routes.SIGN_IN_PATH, body=f"token={token}".encode(), headers=form, **kwargs)


def test_the_sign_in_form_is_a_locked_down_page() -> None:
    status, headers, body = call("GET", study_routes.SIGN_IN_PATH)
    assert status == 200 and 'type="password"' in body and 'method="post"' in body
    assert header(headers, "content-security-policy") == [study_routes.FORM_CSP]
    assert header(headers, "cache-control") == ["no-store"]
    assert header(headers, "referrer-policy") == ["same-origin"]  # so the browser posts a real Origin, not "null"


def test_the_right_token_sets_an_httponly_strict_expiring_session_cookie() -> None:
    status, headers, _ = sign_in(SECRET, client="10.9.0.2")
    assert status == 303 and header(headers, "location") == ["/"]
    (cookie,) = [c for c in header(headers, "set-cookie") if c.startswith(study_routes.ADMIN_COOKIE)]
    attributes = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= set(attributes) and "secure" not in attributes
    assert attributes["samesite"].lower().endswith("strict") and attributes["max-age"].endswith("28800")
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert study.ADMIN_SESSIONS.valid(session_id) and SECRET not in cookie  # a session id, never the token
    _, https_headers, _ = sign_in(SECRET, client="10.9.0.2", scheme="https")
    assert any("Secure" in c for c in header(https_headers, "set-cookie") if c.startswith(study_routes.ADMIN_COOKIE))


def test_failed_sign_ins_are_locked_out_per_client() -> None:
    for _ in range(study.admin.MAX_FAILURES):
        status, headers, body = sign_in("<b>guess</b>", client="10.9.0.3")
        assert status == 401 and "admin token is wrong" in body and "<b>guess" not in body
        assert not [c for c in header(headers, "set-cookie") if c.startswith(study_routes.ADMIN_COOKIE)]
    status, headers, body = sign_in(SECRET, client="10.9.0.3")
    assert status == 429 and "too many failed sign-ins" in body and int(header(headers, "retry-after")[0]) > 800
    assert sign_in(SECRET, client="10.9.0.4")[0] == 303  # another client is not affected


def test_a_sign_in_posted_from_another_site_is_refused() -> None:
    for origin in ("https://evil.test", "null"):
        status, headers, _ = sign_in(SECRET, origin=origin, client="10.9.0.5")
        assert status == 403 and not header(headers, "set-cookie")
    assert sign_in(SECRET, origin="http://study.test", client="10.9.0.5")[0] == 303


def test_every_response_carries_the_security_headers_and_html_a_device_key() -> None:
    status, headers, _ = call("GET", "/")
    assert status == 200
    assert header(headers, "x-frame-options") == ["SAMEORIGIN"]
    assert "frame-ancestors 'self'" in header(headers, "content-security-policy")[0]
    assert header(headers, "referrer-policy") == ["no-referrer"]
    assert header(headers, "x-content-type-options") == ["nosniff"]
    (device,) = header(headers, "set-cookie")
    assert device.startswith(study_routes.DEVICE_COOKIE + "=") and "HttpOnly" in device and "SameSite=Lax" in device
    assert len(device.split(";")[0].split("=", 1)[1]) >= 43  # 256 random bits
    cookie = {"cookie": device.split(";")[0]}
    assert not header(call("GET", "/", headers=cookie)[1], "set-cookie")  # kept, not replaced
    _, api, _ = call("GET", "/_stcore/health")
    assert not header(api, "set-cookie") and header(api, "x-frame-options") == ["SAMEORIGIN"]


def test_serve_refuses_to_start_with_a_short_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(study.ENV_ADMIN_TOKEN, "too-short")
    with pytest.raises(SystemExit, match="has 9 characters; at least 16 are required"):
        runpy.run_path(str(REPO / "serve.py"), run_name="serve")  # stops before st.App is built
