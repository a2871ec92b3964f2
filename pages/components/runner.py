"""Computing several maps with the user in the loop: per-step progress, an ETA, a Stop button, the queue.

``maps(subject, requests, target)`` computes each request through ``compute.compute_map`` (cached maps come back
at once, marked cached). While it works the page shows one progress bar fed by the engine's progress callback,
the method being computed with its expected time on this server (``fair.estimate``), the time left (measured on
the run), the position in line when the server is busy, and a Stop button. Pressing Stop (or changing anything
on the page) makes Streamlit rerun the script, which interrupts the computation at its next progress report;
closing the tab cancels it through the scheduler (``xai_core.Cancelled``). Either way the engine leaves the model
as it was, and the maps finished before the stop stay cached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

import xai_core
from pages.components import compute, fair, state

log = logging.getLogger(__name__)
REDRAW_SECONDS = 0.2


def duration(seconds: float) -> str:
    """``7 min 47 s``, ``12 s``, ``0.4 s``, ``2 h 03 min``: a time as people read it."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _stopped() -> None:
    st.session_state[state.RUN_STOPPED] = "Stopped. The maps finished before the stop are kept (and cached)."


class Progress:
    """The bar, the status line and the Stop button of one run, fed by the engine's progress callback."""

    def __init__(self, total: int, stop_key: str = state.RUN_STOP) -> None:
        """``stop_key``: the Stop button's key; a second run in the same script run (maps, then their measures)
        needs its own."""
        self.total = total
        self.holder = st.empty()  # ``done`` empties it: a container's own ``empty()`` would only add to it
        box = self.holder.container(border=True)
        self.bar = box.progress(0.0)
        self.line = box.empty()
        box.button("Stop", key=stop_key, on_click=_stopped, icon=":material/stop_circle:",
                   help="Stops the computation at its next step; finished maps are kept.")  # fmt: skip
        self.box = box
        self.index, self.label, self.start, self.drawn = 0, "", time.perf_counter(), 0.0

    def begin(self, index: int, label: str) -> None:
        self.index, self.label, self.start = index, label, time.perf_counter()
        self.show(0.0, force=True)

    def show(self, fraction: float, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.drawn < REDRAW_SECONDS:
            return
        self.drawn = now
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = now - self.start
        left = f" · about {duration(elapsed * (1 - fraction) / fraction)} left" if fraction > 0.02 else ""
        self.bar.progress((self.index + fraction) / self.total)
        self.line.caption(f"{self.label} ({self.index + 1}/{self.total}): {fraction:.0%} · {duration(elapsed)}{left}")

    def waiting(self, position: int) -> None:
        self.line.caption(f"{self.label}: the server is busy; you are number {position} in line.")

    def done(self) -> None:
        self.holder.empty()


def labels(subject: Any) -> Callable[[str], str]:
    """Method labels for a picker with the expected time of the slow ones on this server (a probe seeds it)."""
    from pages.components import method_settings  # it imports this module for ``duration``

    fair.calibrate(subject.model_name, subject.model, subject.image)
    return method_settings.timed(lambda request: fair.estimate(subject.model_name, request))


def human(request: xai_core.Request) -> str:
    """``Integrated Gradients + SmoothGrad (25 x 0.15)``: the method's title and the noise setting."""
    name = xai_core.methods.get(request.method).title or request.method
    return name if request.noise is None else f"{name} + {request.noise.title}"


def expected(model_name: str, request: xai_core.Request) -> str:
    """``Integrated Gradients (expected 7.8 s)``: a request's label with its estimate on this server."""
    seconds = fair.estimate(model_name, request)
    return human(request) if seconds is None else f"{human(request)} (expected {duration(seconds)})"


def maps(
    subject: Any, requests: Sequence[xai_core.Request | compute.Failure], target: int
) -> list[compute.MapResult | compute.Failure]:
    """Every request's map (cached or computed now); a failing or stopped one becomes a ``Failure``."""
    st.session_state[state.RUN_STOPPED] = None
    fair.limits().check_run(len(requests))
    progress = Progress(len(requests))
    items: list[compute.MapResult | compute.Failure] = []
    try:
        for i, request in enumerate(requests):
            if isinstance(request, compute.Failure):
                items.append(request)
                continue
            progress.begin(i, expected(subject.model_name, request))
            items.append(one(subject, request, target, progress.show, progress.waiting))
    finally:
        progress.done()
    return items


def one(
    subject: Any,
    request: xai_core.Request,
    target: int,
    progress: Callable[[float], None] | None = None,
    on_wait: Callable[[int], None] | None = None,
) -> compute.MapResult | compute.Failure:
    """One map; a bad setting, a limit, a cancellation or a failing method becomes a ``Failure`` with its message."""
    try:
        return compute.compute_map(
            subject.model_name, subject.model, subject.image, request, target, progress=progress, on_wait=on_wait
        )
    except xai_core.ParameterError as exc:
        return compute.Failure(request.method, str(exc))
    except xai_core.Cancelled as exc:
        return compute.Failure(request.method, f"Stopped: {exc}.")
    except Exception as exc:  # one method failing must not hide the others' maps
        log.exception("method %s failed", request.method)
        return compute.Failure(request.method, f"{request.title} failed: {exc}")


def stopped_note() -> None:
    """The message of a run stopped in the previous script run, once."""
    note = st.session_state.pop(state.RUN_STOPPED, None)
    if note:
        st.info(note, icon=":material/stop_circle:")
