"""The view in the address bar: a reload or a shared link restores the model, the sample image, the methods and
every setting of the page's form.

Query parameters: ``s`` (the page's form scope), ``model`` (a model id), ``img`` (a bundled sample id; an uploaded
image cannot be in a link, and the page says so) and ``m``, the page form's requests as compact JSON: a list of
``{"m": method, "p": {parameters that differ from the defaults}, "n": [noise mode, samples, sigma, seed], "l":
layer}`` with empty fields left out, e.g.
``m=[{"m":"saliency"},{"m":"integrated_gradients","p":{"steps":64},"n":["smoothgrad",25,0.15,0]}]``.

A link is read once per browser session (a reload or a pasted link starts a new session): on the session's first
run for ``model`` and ``img``, on the first run of each page for ``m`` when ``s`` (the scope that wrote it) is that
page's. After that the address bar only follows the session; reading it again would race the browser, which sends
the previous address with a rerun that overtakes the update.

Everything from a link is validated on the way in (ids against the registries, requests by ``Request.create``); a
bad link gets a message naming what was wrong, shown as plain text, and the page keeps its defaults.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import streamlit as st

import xai_core
from pages.components import method_settings, state, widgets

MAX_CHARS = 4000
MAX_REQUESTS = 12


def encode(requests: Sequence[xai_core.Request]) -> str:
    """Requests as the compact JSON of ``m`` (defaults left out)."""
    entries = []
    for request in requests:
        defaults = xai_core.Request.create(request.method).params
        entry: dict[str, Any] = {"m": request.method}
        changed = {k: v for k, v in request.params.items() if defaults.get(k) != v}
        if changed:
            entry["p"] = changed
        if request.noise is not None:
            n = request.noise
            entry["n"] = [n.mode, n.samples, n.sigma, n.seed]
        if request.layer is not None:
            entry["l"] = request.layer
        entries.append(entry)
    return json.dumps(entries, separators=(",", ":"))


def decode(text: str) -> list[xai_core.Request]:
    """The requests of an ``m`` value; ``ValueError`` naming what is wrong (``ParameterError`` for a bad setting)."""
    if len(text) > MAX_CHARS:
        raise ValueError(f"the settings are {len(text)} characters long; at most {MAX_CHARS} are read")
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the settings are not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError('the settings must be a list of {"m": method, ...} entries')
    if len(entries) > MAX_REQUESTS:
        raise ValueError(f"{len(entries)} methods; a link holds at most {MAX_REQUESTS}")
    out = []
    for entry in entries:
        unknown = sorted(set(entry) - {"m", "p", "n", "l"})
        if unknown:
            raise ValueError(f"unknown field(s) {unknown} in a method entry; fields are m, p, n, l")
        noise = entry.get("n")
        if noise is not None and not (isinstance(noise, list) and len(noise) == 4):
            raise ValueError("n must be [mode, samples, sigma, seed]")
        params = entry.get("p") or {}
        if not isinstance(params, dict):
            raise ValueError("p must be an object of parameter values")
        smoothing = None if noise is None else xai_core.Noise(*noise)
        out.append(xai_core.Request.create(entry.get("m"), params, noise=smoothing, layer=entry.get("l")))
    return out


def _first(name: str, scope: str = "") -> str | None:
    """The query parameter on the first call for ``(name, scope)`` in this session, else None."""
    done: set[tuple[str, str]] = st.session_state.setdefault(state.URL_APPLIED, set())
    if (name, scope) in done:
        return None
    done.add((name, scope))
    return st.query_params.get(name)


def _fail(what: str, detail: str) -> None:
    st.warning(what, icon=":material/link_off:")
    st.text(detail)  # the link's own text: shown as text, never as Markdown


def apply() -> None:
    """Before the sidebar runs: take ``model`` and ``img`` from a new or changed link into the pickers."""
    model = _first("model")
    if model is not None:
        if model in xai_core.available_models():
            widgets.put({state.MODEL_NAME: model})
        else:
            _fail("The link names a model this server does not have; using the sidebar's.", model)
    sample = _first("img")
    if sample is not None:
        if sample in xai_core.sample_images():
            widgets.put({state.SAMPLE_ID: sample})
        else:
            _fail("The link names a sample image that does not exist; using the sidebar's.", sample)


def restore(scope: str, *, multiple: bool = True) -> None:
    """At the top of a page, before its form: a new or changed ``m`` in the link becomes the form's settings."""
    text = _first("m", scope)
    if text is not None and st.query_params.get("s", scope) == scope:
        try:
            found = decode(text)
        except ValueError as exc:  # ParameterError included: it names the parameter, the range and the value
            _fail("The link's method settings could not be used; the page keeps its own.", str(exc))
        else:
            if found:
                method_settings.send(scope, found if multiple else found[:1], multiple=multiple)


def publish(scope: str, requests: Sequence[xai_core.Request | Any]) -> None:
    """Write the model, the sample and the form's valid requests into the address bar (a reload restores them)."""
    _first("m", scope)  # this page's link (if any) was read already, or there was none to read
    values = {"model": str(st.session_state.get(state.MODEL_NAME) or ""), "s": scope}
    origin = st.session_state.get(state.IMAGE_ORIGIN)
    if origin is not None and origin[0] == "sample":
        values["img"] = origin[1]
    valid = [r for r in requests if isinstance(r, xai_core.Request)]
    if valid:
        values["m"] = encode(valid)
    for name in ("img", "m"):
        if name not in values and name in st.query_params:
            del st.query_params[name]
    st.query_params.update(values)


def upload_note() -> str | None:
    """Why the link does not carry the image, when the image is an upload."""
    origin = st.session_state.get(state.IMAGE_ORIGIN)
    if origin is not None and origin[0] != "sample":
        return "The link restores the model, methods and settings; an uploaded image cannot travel in a link."
    return None
