"""Fair use of the shared model from the app: who is asking, what they may ask for, and their place in line.

Every map computed by the app is a job of ``xai_core.jobs.scheduler()`` owned by the browser session: it waits in
line when the server is busy, computes on its own replica of the model, shares the device with other sessions'
jobs at every progress report, and is cancelled when the session's tab closes (``alive``) or the session starts
another job (``runs``). An anonymous session is held to ``XAI_LIMITS`` (``xai_core.settings``); a session signed in
as the study admin is not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

import xai_core
from pages.components import study_access
from xai_core.jobs import Job, Limits, PassTimer

_TIMER = PassTimer()


def session_id() -> str:
    """This browser session's id ("local" outside a Streamlit run)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


def alive(session: str) -> Callable[[], bool]:
    """A check that is False once the session's browser tab is gone (its websocket closed)."""
    if not runtime.exists():
        return lambda: True
    instance = runtime.get_instance()
    return lambda: bool(instance.is_active_session(session))


@cache
def _configured(text: str) -> Limits:
    return Limits.parse(text)


def configured() -> Limits:
    """The deployment's limits for anonymous sessions (``XAI_LIMITS``)."""
    return _configured(xai_core.settings.limits_text())


def limits() -> Limits:
    """The limits of this session: the configured ones, or none for the signed-in study admin (the queue and the
    one-run-per-session rule apply to everyone)."""
    found = configured()
    if found.active and study_access.is_admin():
        return Limits(runs=found.runs, queue=found.queue)
    return found


def bound(spec: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema entry within this session's limits (the form's widgets offer no more)."""
    return limits().bound(spec)


@contextmanager
def job(model: Any, on_wait: Callable[[int], None] | None = None) -> Iterator[Job]:
    """A scheduler job of this session with a replica of ``model`` (``job.model``)."""
    session, found = session_id(), limits()
    scheduler = xai_core.jobs.scheduler(found.queue)
    with scheduler.job(session, model=model, alive=alive(session), runs=found.runs, on_wait=on_wait) as running:
        yield running


def timer() -> PassTimer:
    """Measured seconds per pass per model (the picker's and the run's time estimates)."""
    return _TIMER


def estimate(model_name: str, request: xai_core.Request) -> float | None:
    """Expected seconds for ``request`` on ``model_name`` on this server, or None before any measurement."""
    return _TIMER.estimate(model_name, xai_core.jobs.passes(request))


def calibrate(model_name: str, model: Any, image: Any) -> None:
    """Seed the per-pass time of a model with a cheap probe (three forward+backward passes of one image), once per
    model per process, so the picker can show expected times before anything was computed; finished maps refine it."""
    if _TIMER.per_pass(model_name) is None:
        _TIMER.seed(model_name, xai_core.jobs.probe_seconds_per_pass(model, model.preprocess(image.image)))
