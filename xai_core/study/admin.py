"""The admin gate: designing, publishing, closing and analysing studies are admin actions.

The engine's admin functions (``create_study``, ``publish``, ``close_study``, ``responses``, ``summarize``, the
exports) take no token themselves, so scripts and tests can call them directly; a page or service that exposes
them to people calls ``require_admin`` first. The expected secret is ``secret=`` or ``$XAI_STUDY_ADMIN_TOKEN``;
the comparison is ``hmac.compare_digest`` on UTF-8 bytes, whose time does not depend on where the strings differ.
"""

from __future__ import annotations

import hmac
import os
import warnings

from xai_core.study.errors import AdminError

ENV_ADMIN_TOKEN = "XAI_STUDY_ADMIN_TOKEN"
MIN_SECRET_LENGTH = 16


def require_admin(token: str | None, secret: str | None = None) -> None:
    """Return if ``token`` is the admin secret; raise ``AdminError`` saying what is missing or wrong otherwise.

    Args:
        token: what the user presented.
        secret: the expected token; ``None`` reads ``$XAI_STUDY_ADMIN_TOKEN``.
    """
    expected = secret if secret is not None else os.environ.get(ENV_ADMIN_TOKEN, "")
    if not expected:
        raise AdminError(f"no admin token is configured: set {ENV_ADMIN_TOKEN} or pass secret=")
    if len(expected) < MIN_SECRET_LENGTH:
        warnings.warn(
            f"the admin secret has {len(expected)} characters; use at least {MIN_SECRET_LENGTH} "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            stacklevel=2,
        )
    if not token:
        raise AdminError("admin token missing")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        raise AdminError("admin token is wrong")
