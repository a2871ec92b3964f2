"""The admin gate: designing, publishing, closing and analysing studies are admin actions.

The engine's admin functions (``create_study``, ``publish``, ``close_study``, ``responses``, ``summarize``, the
exports) take no token themselves, so scripts and tests can call them directly; a page or service that exposes
them to people calls ``require_admin`` (or ``sign_in``, then ``AdminSessions.valid`` on every request) first.

- The secret is ``secret=`` or ``$XAI_STUDY_ADMIN_TOKEN`` and must have at least ``MIN_SECRET_LENGTH`` characters;
  a shorter one is refused (``check_secret``), so a server cannot run its admin area on a guessable token. The
  comparison is ``hmac.compare_digest`` on UTF-8 bytes, whose time does not depend on where the strings differ.
- ``sign_in`` turns the secret into a server-side session: a random 256-bit id for an HttpOnly cookie, of which
  ``AdminSessions`` keeps only the SHA-256, with an absolute expiry (``SESSION_TTL_S``). Signing out revokes it.
- ``SignInGuard`` counts failed sign-ins per client: ``MAX_FAILURES`` within ``FAILURE_WINDOW_S`` lock that
  client out for ``LOCKOUT_S``; while locked, even the right secret is refused.

Sessions and counters live in this process's memory: a restart signs every admin out, and a deployment that runs
several server processes needs sticky sessions (or one process per study server).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from xai_core.study.errors import AdminError

ENV_ADMIN_TOKEN = "XAI_STUDY_ADMIN_TOKEN"
MIN_SECRET_LENGTH = 16
SESSION_TTL_S = 8 * 3600.0
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60.0
LOCKOUT_S = 15 * 60.0
MAX_TRACKED_CLIENTS = 10_000  # the guard forgets the oldest clients beyond this (memory stays bounded)


class AdminLockedError(AdminError):
    """Too many failed sign-ins from one client; ``retry_after_s`` says when it may try again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def configured_secret(secret: str | None = None) -> str:
    """``secret`` or ``$XAI_STUDY_ADMIN_TOKEN``, checked by ``check_secret``."""
    expected = secret if secret is not None else os.environ.get(ENV_ADMIN_TOKEN, "").strip()
    check_secret(expected)
    return expected


def check_secret(secret: str | None) -> None:
    """Raise ``AdminError`` when no admin secret is set or it is shorter than ``MIN_SECRET_LENGTH``."""
    if not secret:
        raise AdminError(f"no admin token is configured: set {ENV_ADMIN_TOKEN} or pass secret=")
    if len(secret) < MIN_SECRET_LENGTH:
        raise AdminError(
            f"the admin token has {len(secret)} characters; at least {MIN_SECRET_LENGTH} are required "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def require_admin(token: str | None, secret: str | None = None) -> None:
    """Return if ``token`` is the admin secret; raise ``AdminError`` saying what is missing or wrong otherwise.

    Args:
        token: what the user presented.
        secret: the expected token; ``None`` reads ``$XAI_STUDY_ADMIN_TOKEN``.
    """
    expected = configured_secret(secret)
    if not token:
        raise AdminError("admin token missing")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        raise AdminError("admin token is wrong")


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class AdminSessions:
    """Server-side admin sessions: ``create`` hands out an id, ``valid`` checks it, ``revoke`` ends it."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[str, float] = {}  # sha256(id) -> clock time it stops being valid
        self._lock = threading.Lock()

    def create(self) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            self._expiry[_digest(session_id)] = now + self.ttl_s
        return session_id

    def remaining_s(self, session_id: str | None) -> float:
        """Seconds the session has left (0 for an unknown, expired or revoked one)."""
        if not isinstance(session_id, str) or not 0 < len(session_id) <= 200:
            return 0.0
        with self._lock:
            expiry = self._expiry.get(_digest(session_id), 0.0)
        return max(0.0, expiry - self._clock())

    def valid(self, session_id: str | None) -> bool:
        return self.remaining_s(session_id) > 0

    def revoke(self, session_id: str | None) -> None:
        if isinstance(session_id, str):
            with self._lock:
                self._expiry.pop(_digest(session_id), None)


class SignInGuard:
    """Failed sign-ins per client (an IP address): too many in a window lock the client out for a while."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        lockout_s: float = LOCKOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise ``AdminLockedError`` while ``client`` is locked out."""
        with self._lock:
            left = self._locked_until.get(client, 0.0) - self._clock()
        if left > 0:
            minutes = max(1, round(left / 60))
            raise AdminLockedError(
                f"too many failed sign-ins from this address: try again in {minutes} minute(s)", retry_after_s=left
            )

    def failed(self, client: str) -> None:
        with self._lock:
            now = self._clock()
            recent = [t for t in self._failures.pop(client, []) if now - t < self.window_s] + [now]
            self._failures[client] = recent
            while len(self._failures) > MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)
            if len(recent) >= self.max_failures:
                self._locked_until[client] = now + self.lockout_s
                self._failures.pop(client, None)
            self._locked_until = {c: t for c, t in self._locked_until.items() if t > now}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


ADMIN_SESSIONS = AdminSessions()
SIGN_IN_GUARD = SignInGuard()


def sign_in(
    token: str | None,
    client: str,
    *,
    secret: str | None = None,
    sessions: AdminSessions = ADMIN_SESSIONS,
    guard: SignInGuard = SIGN_IN_GUARD,
) -> str:
    """Check ``token`` for ``client`` and return a new admin session id.

    Raises:
        AdminLockedError: ``client`` failed too often recently (checked before the token).
        AdminError: the token is missing or wrong (counted against ``client``), or no valid secret is configured.
    """
    guard.check(client)
    expected = configured_secret(secret)  # a configuration problem is not the client's failure
    try:
        require_admin(token, expected)
    except AdminError:
        guard.failed(client)
        raise
    guard.succeeded(client)
    return sessions.create()
