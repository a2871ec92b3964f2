"""Saliency Studio as a server: ``streamlit run serve.py`` (what ``make run`` does).

This is ``app.py`` with the study server's HTTP parts (``pages/components/study_routes.py``): the admin sign-in page
with its HttpOnly session cookie, security headers (no framing by other sites, no outside images, no Referer) and
the participants' device cookie. ``streamlit run app.py`` still runs the studio, without those. A study admin
token shorter than 16 characters stops the server here, before anyone can sign in with it.
"""

import streamlit as st

from pages.components import study_access, study_routes
from xai_core import study

_token = study_access.setting(study.ENV_ADMIN_TOKEN)
if _token is not None and len(_token) < study.MIN_SECRET_LENGTH:
    raise SystemExit(
        f"{study.ENV_ADMIN_TOKEN} has {len(_token)} characters; at least {study.MIN_SECRET_LENGTH} are required. "
        "Make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )

app = st.App("app.py", routes=study_routes.routes(), middleware=study_routes.middleware())
