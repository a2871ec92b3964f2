"""The one method-settings form of the app: pick methods, set each one's parameters, post-processing and layer.

Every page that asks for maps uses it with its own scope (``state.SCOPES``); widget keys are
``state.method_key(scope, method, field)`` (field: a parameter name, ``noise.mode``, ``noise.<setting>``,
``layer``), values are kept across page switches (``widgets``), and what comes out is one validated
``xai_core.Request`` per method, or a ``Failure`` naming the bad setting. The same scheme runs backwards:
``send(scope, requests)`` writes requests into a scope's widgets (a shared link, "Send to Faithfulness").

    methods = method_settings.pick("faith", default=("saliency", "grad_cam"))      # outside the form
    with st.form(state.form_key("faith")):
        requests = method_settings.form("faith", methods, layers=model.cam_layers())
        submitted = st.form_submit_button("Compute", key=state.submit_key("faith"))

Which methods exist, their titles, papers, schemas and whether they explain a layer all come from
``xai_core.methods.describe()``: no method name appears here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import streamlit as st

import xai_core
from pages.components import state, widgets
from pages.components.compute import Failure
from pages.components.runner import duration
from xai_core import noise

NO_NOISE = "none"
NOISE_HELP = (
    "SmoothGrad averages the map over noisy copies of the image, SmoothGrad² averages its square, VarGrad takes its "
    "variance."
)
# Lighter defaults where a page runs each method many times (the checks): path steps, samples, attack steps.
LIGHT_DEFAULTS = {"steps": 16, "samples": 8, "pgd_steps": 10, "max_iter": 10, "num_classes": 3}


@cache
def catalog() -> dict[str, dict[str, Any]]:
    """Every registered method's description (``xai_core.methods.describe()``), by id."""
    return {m["name"]: m for m in xai_core.methods.describe()}


def simplest(methods: Sequence[str]) -> list[str]:
    """``methods`` from the cheapest to the dearest at their defaults (``xai_core.jobs.passes``), ties kept in order:
    the first is the default a picker shows."""
    cost = {m: xai_core.jobs.passes(xai_core.Request.create(m)) for m in methods}
    return sorted(methods, key=lambda m: cost[m])


def title(method: str) -> str:
    """``Integrated Gradients (integrated_gradients)``: the human name next to the id."""
    meta = catalog().get(method)
    return method if meta is None or meta["title"] == method else f"{meta['title']} ({method})"


SLOW_SECONDS = 5.0  # a method expected to take longer than this on this server is marked in the pickers


def timed(estimate: Callable[[xai_core.Request], float | None]) -> Callable[[str], str]:
    """A picker label: ``title`` plus the expected time at the method's defaults when it is slow on this server,
    ``Guided Integrated Gradients (guided_ig) · slow: ~22 s`` (``estimate``: seconds of a request, or None)."""
    expected = {m: estimate(xai_core.Request.create(m)) for m in catalog()}

    def label(method: str) -> str:
        seconds = expected.get(method)
        if seconds is None or seconds < SLOW_SECONDS:
            return title(method)
        return f"{title(method)} · slow: ~{duration(seconds)}"

    return label


def light(spec: Mapping[str, Any]) -> Any:
    """The lighter default of a parameter for the checks, or its own default."""
    lighter = LIGHT_DEFAULTS.get(spec["name"])
    if spec["type"] == "int" and lighter is not None and spec["default"] > lighter:
        return max(lighter, spec.get("low") or lighter)
    return spec["default"]


def pick(
    scope: str,
    default: Sequence[str],
    *,
    multiple: bool = True,
    options: Sequence[str] | None = None,
    label: str = "Methods",
    describe: Callable[[str], str] = title,
    help: str | None = "Each method gets its own settings below.",
) -> list[str]:
    """The methods picker of ``scope`` (outside the form: it shapes the form), kept across pages."""
    offered = list(options if options is not None else catalog())
    key = state.methods_key(scope)
    if multiple:
        chosen = widgets.kept(
            st.multiselect, label, key, [m for m in default if m in offered], options=offered,
            format_func=describe, help=help,
        )  # fmt: skip
        return list(chosen)
    first = next((m for m in default if m in offered), offered[0])
    return [widgets.kept(st.selectbox, label, key, first, options=offered, format_func=describe, help=help)]


def _params(scope: str, method: str, schema: Sequence[dict[str, Any]], columns: int, lighter: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for start in range(0, len(schema), columns):
        slots = st.columns(columns) if columns > 1 else [st.container()]
        for slot, spec in zip(slots, schema[start : start + columns], strict=False):
            with slot:
                default = light(spec) if lighter else None
                values[spec["name"]] = widgets.param(spec, state.method_key(scope, method, spec["name"]), default)
    return values


def _layer(scope: str, method: str, layers: Sequence[str]) -> str | None:
    key = state.method_key(scope, method, "layer")
    chosen = widgets.kept(st.selectbox, "Layer", key, layers[0], options=list(layers),
                          help="The layer whose activations and gradients the map is made of; the first is the "
                          "model's default (the last convolutional block).")  # fmt: skip
    return None if chosen == layers[0] else str(chosen)


def one(
    scope: str,
    method: str,
    *,
    with_noise: bool = True,
    lighter: bool = False,
    exclude: Sequence[str] = (),
    layers: Sequence[str] | None = None,
    bound: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    columns: int = 2,
) -> xai_core.Request | Failure:
    """One method's settings (call inside a form): parameters, then layer and post-processing when they apply."""
    meta = catalog()[method]
    paper = f" [{meta['paper']}]({meta['url']})" if meta.get("url") else ""
    st.caption(f"{meta['summary']}{paper}")
    schema = [bound(p) for p in meta["params"] if p["name"] not in exclude]
    params = _params(scope, method, schema, columns, lighter)
    if not schema:
        st.caption("No hyperparameters.")
    layer = _layer(scope, method, layers) if meta["needs_layer"] and layers else None
    try:
        smoothing = _noise_settings(scope, method, bound) if with_noise else None
        return xai_core.Request.create(method, params, noise=smoothing, layer=layer)
    except xai_core.ParameterError as exc:
        return Failure(method, str(exc))


def _noise_settings(scope: str, method: str, bound: Callable[[dict[str, Any]], dict[str, Any]]) -> noise.Noise | None:
    modes = [NO_NOISE, *noise.MODES]
    mode = widgets.kept(
        st.selectbox, "Post-processing", state.method_key(scope, method, "noise.mode"), NO_NOISE, options=modes,
        format_func=lambda m: noise.TITLES.get(m, m), help=NOISE_HELP,
    )  # fmt: skip
    values = {}
    for column, param in zip(st.columns(len(noise.PARAMS)), noise.PARAMS, strict=True):
        with column:
            spec = bound(param.describe())
            values[param.name] = widgets.param(spec, state.method_key(scope, method, f"noise.{param.name}"))
    return None if mode == NO_NOISE else noise.Noise(mode, **values)


def form(
    scope: str,
    methods: Sequence[str],
    *,
    with_noise: bool = True,
    lighter: bool = False,
    exclude: Mapping[str, Sequence[str]] | None = None,
    layers: Sequence[str] | None = None,
    bound: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    columns: int = 2,
) -> list[xai_core.Request | Failure]:
    """Every chosen method's settings, one tab each (call inside ``st.form``); a request or a failure per method.

    Args:
        scope: the form's scope (``state.SCOPES``).
        methods: method ids, in order.
        with_noise: offer SmoothGrad / SmoothGrad² / VarGrad per method.
        lighter: lower the expensive defaults (``LIGHT_DEFAULTS``) for pages that run a method many times.
        exclude: parameters not to show, per method (a sweep's swept parameter).
        layers: the model's layers (``ModelWrapper.cam_layers()``, default first) for methods that explain a layer.
        bound: applied to every schema entry (the fair-use limits lower ``high``).
        columns: parameter widgets per row.
    """
    if not methods:
        return []
    tabs = st.tabs([catalog()[m]["title"] for m in methods]) if len(methods) > 1 else [st.container()]
    out = []
    for tab, method in zip(tabs, methods, strict=True):
        with tab:
            out.append(
                one(
                    scope, method, with_noise=with_noise, lighter=lighter, exclude=(exclude or {}).get(method, ()),
                    layers=layers, bound=bound, columns=columns,
                )
            )  # fmt: skip
    return out


def values(scope: str, request: xai_core.Request) -> dict[str, Any]:
    """The widget values that make ``scope``'s form produce ``request`` (every field, defaults included)."""
    out: dict[str, Any] = {state.method_key(scope, request.method, k): v for k, v in request.params.items()}
    found = request.noise
    out[state.method_key(scope, request.method, "noise.mode")] = found.mode if found is not None else NO_NOISE
    if found is not None:
        for name in ("samples", "sigma", "seed"):
            out[state.method_key(scope, request.method, f"noise.{name}")] = getattr(found, name)
    out[state.method_key(scope, request.method, "layer")] = request.layer  # None: the model's default layer
    return out


def send(scope: str, requests: Sequence[xai_core.Request], *, multiple: bool = True) -> None:
    """Make ``scope``'s picker and form show exactly ``requests`` the next time it runs."""
    found: dict[str, Any] = {}
    for request in requests:
        found.update(values(scope, request))
    methods = [r.method for r in requests]
    found[state.methods_key(scope)] = methods if multiple else methods[0]
    widgets.forget([k for k, v in found.items() if v is None])
    widgets.put({k: v for k, v in found.items() if v is not None})
