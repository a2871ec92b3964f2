"""The HTTP side of the study server, installed by ``serve.py`` (``streamlit run serve.py``; ``make run``).

Streamlit talks to the browser over a websocket and cannot set cookies, so three things are plain HTTP here
(Streamlit 1.67's ``st.App`` takes extra routes and middleware; ``st.login`` needs an OIDC provider):

- ``GET/POST /study-admin/sign-in``: a small form. A right admin token gets a server-side session
  (``study.sign_in``: random 256-bit id, only its hash kept, expiring after ``study.admin.SESSION_TTL_S``) in an
  HttpOnly, SameSite=Strict cookie (Secure over HTTPS), then a redirect to the studio. The token itself never goes
  into a URL, a cookie or browser storage. Failed sign-ins count per client address (``SignInGuard``: five in 15
  minutes lock the address out for 15 minutes; behind a reverse proxy on this host, uvicorn takes the address
  from ``X-Forwarded-For``). A POST from another origin is refused (login CSRF).
- Every response gets ``X-Frame-Options: SAMEORIGIN`` and a Content-Security-Policy with ``frame-ancestors
  'self'`` (no framing by other sites) and ``img-src 'self' data: blob:`` (a page can load no outside image, a
  second line of defence behind the escaping of user text), ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer`` (a participant's session link never leaks in a Referer).
- A browser that loads the app without one gets a device key: a random HttpOnly cookie that lets it resume its
  own study session from the plain link (``study.resume``); the database stores only its SHA-256.

The Streamlit script reads both cookies through ``st.context.cookies`` (the websocket's handshake carries them).
"""

from __future__ import annotations

import asyncio
import html
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from xai_core import study

ADMIN_COOKIE = "xai_study_admin"
DEVICE_COOKIE = "xai_study_device"
SIGN_IN_PATH = "/study-admin/sign-in"
DEVICE_MAX_AGE_S = 180 * 24 * 3600
FAILED_SIGN_IN_DELAY_S = 0.5
MAX_FORM_BYTES = 4096
APP_CSP = "frame-ancestors 'self'; img-src 'self' data: blob:; base-uri 'self'"
FORM_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
SECURITY_HEADERS = {
    "x-frame-options": "SAMEORIGIN",
    "content-security-policy": APP_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

_state = {"installed": False}


def installed() -> bool:
    """The routes serve this process (the app was started through ``serve.py``)."""
    return _state["installed"]


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _form(message: str = "", status: int = 200) -> HTMLResponse:
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Study admin sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#262730}}
label,input,button{{display:block;width:100%;box-sizing:border-box;font-size:1rem}}
input{{padding:.5rem;margin:.3rem 0 1rem}}.error{{color:#b00020}}
button{{padding:.6rem;background:#ff4b4b;color:#fff;border:0;border-radius:.4rem}}</style>
</head><body><main><h1>Study admin</h1>{note}
<form method="post" action="{SIGN_IN_PATH}"><label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form><p><a href="/">Back to the studio</a></p></main></body></html>"""
    response = HTMLResponse(body, status_code=status)
    response.headers["content-security-policy"] = FORM_CSP
    response.headers["cache-control"] = "no-store"
    # Under "no-referrer" a browser posts the form with "Origin: null", and _same_origin could not tell it apart
    # from a cross-site POST; this page holds nothing that a same-origin Referer could leak.
    response.headers["referrer-policy"] = "same-origin"
    return response


def _same_origin(request: Request) -> bool:
    """A POST must come from this site's own pages (browsers send Origin on every cross-site POST; "null" from
    sandboxed or privacy-stripped contexts is refused too)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def sign_in(request: Request) -> Response:
    """The sign-in form (GET) and its submission (POST); see the module docstring."""
    if request.method == "GET":
        return _form()
    if not _same_origin(request):
        return PlainTextResponse("Sign-in refused: the form was sent from another site.", status_code=403)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return PlainTextResponse("Sign-in refused: the form is too large.", status_code=413)
    token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
    client = request.client.host if request.client else "unknown"
    try:
        session_id = study.sign_in(token, client)
    except study.AdminLockedError as exc:
        response = _form(f"Not signed in: {exc}.", status=429)
        response.headers["retry-after"] = str(int(exc.retry_after_s) + 1)
        return response
    except study.AdminError as exc:
        await asyncio.sleep(FAILED_SIGN_IN_DELAY_S)
        return _form(f"Not signed in: {exc}.", status=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        ADMIN_COOKIE,
        session_id,
        max_age=int(study.ADMIN_SESSIONS.ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    response.headers["cache-control"] = "no-store"
    return response


def _cookies(scope: dict[str, Any]) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: treat as no cookies
                return SimpleCookie()
    return jar


class StudyServerMiddleware:
    """Pure ASGI middleware: security headers on every HTTP response, a device key for browsers without one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needs_device = scope.get("method") == "GET" and DEVICE_COOKIE not in _cookies(scope)
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                content_type = dict(headers).get(b"content-type", b"")
                if needs_device and content_type.startswith(b"text/html"):
                    cookie = (
                        f"{DEVICE_COOKIE}={secrets.token_urlsafe(32)}; Max-Age={DEVICE_MAX_AGE_S}; Path=/; "
                        f"HttpOnly; SameSite=Lax{'; Secure' if secure else ''}"
                    )
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def routes() -> list[Route]:
    """The extra routes for ``st.App``; calling this marks the process as serving them."""
    _state["installed"] = True
    return [Route(SIGN_IN_PATH, sign_in, methods=["GET", "POST"])]


def middleware() -> list[Middleware]:
    return [Middleware(StudyServerMiddleware)]
