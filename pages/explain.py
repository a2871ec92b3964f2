"""Explain page: the model's top predictions for the chosen image and saliency maps of several methods side by side.

Method hyperparameters sit in an ``st.form`` (nothing recomputes while they are edited); the display controls sit
outside it and only re-colour the cached maps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

import xai_core
from pages.components import compute, overlays, param_form, sidebar, state
from xai_core import noise

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("saliency", "grad_cam")
NO_POSTPROCESS = "none"
POSTPROCESS_SCHEMA = [p.describe() for p in noise.PARAMS]


def method_settings(meta: dict[str, Any]) -> xai_core.Request | compute.Failure:
    """One expander per method: its schema's widgets plus the SmoothGrad/VarGrad choice and parameters.

    Returns the validated request, or a ``Failure`` naming the bad setting (shown in the method's place)."""
    name = meta["name"]
    with st.expander(f"**{name}** settings"):
        st.caption(f"{meta['summary']} [{meta['paper']}]({meta['url']})" if meta.get("url") else meta["summary"])
        params = param_form.render(meta["params"], lambda p: state.param_key(name, p))
        if not meta["params"]:
            st.caption("This method has no hyperparameters.")
        post = st.selectbox(
            "Post-processing",
            [NO_POSTPROCESS, *noise.MODES],
            format_func=lambda mode: noise.TITLES.get(mode, mode),
            key=state.postprocess_key(name),
            help="SmoothGrad averages the map over noisy copies of the image, SmoothGrad² averages its square, "
            "VarGrad takes its variance.",
        )
        post_params = param_form.render(
            POSTPROCESS_SCHEMA, lambda p: state.postprocess_param_key(name, p), columns=len(POSTPROCESS_SCHEMA)
        )
    try:
        smoothing = None if post == NO_POSTPROCESS else noise.Noise(post, **post_params)
        return xai_core.Request.create(name, params, noise=smoothing)
    except xai_core.ParameterError as exc:
        return compute.Failure(name, str(exc))


def run_methods(
    name: str, model: Any, image: Any, target: int, requests: Sequence[xai_core.Request | compute.Failure]
) -> compute.ExplainRun:
    """Compute every map (cached); a failing method becomes a ``Failure`` and the others still run."""
    bar = st.progress(0.0)
    items: list[compute.MapResult | compute.Failure] = []
    for i, request in enumerate(requests):
        if isinstance(request, compute.Failure):
            items.append(request)
            continue
        bar.progress(i / len(requests), text=f"Computing {request.method} ({i + 1}/{len(requests)})…")
        try:
            items.append(compute.compute_map(name, model, image, request, target))
        except xai_core.ParameterError as exc:
            items.append(compute.Failure(request.method, str(exc)))
        except Exception as exc:
            log.exception("method %s failed", request.method)
            items.append(compute.Failure(request.method, f"{request.method} failed: {exc}"))
    bar.empty()
    return compute.ExplainRun(name, image.sha256, target, items)


def predictions_table(top_k: Sequence[tuple[int, str, float]]) -> None:
    frame = pd.DataFrame(top_k, columns=["class", "label", "probability"])
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "class": st.column_config.NumberColumn("class", width=48),
            "label": st.column_config.TextColumn("label"),
            "probability": st.column_config.ProgressColumn(
                "probability", format="percent", min_value=0.0, max_value=1.0, width=110
            ),
        },
    )


def main() -> None:
    st.title("Explain a prediction")
    name, model = sidebar.current_model()
    image = st.session_state.get(state.IMAGE)
    if model is None:
        st.info("Choose a model that loads (see the message in the sidebar).")
        return
    if image is None:
        st.info("Choose a sample image or upload a valid image in the sidebar.")
        return
    prepared = compute.prepare(name, image.sha256, model, image.image)
    labels = list(model.labels)
    picture, predictions, settings = st.columns([1, 1.25, 1.75], gap="medium")
    picture.image(prepared.display, caption=f"{image.name}, as the model sees it", width="stretch")
    with predictions:
        st.markdown("**Top-5 predictions**")
        predictions_table(prepared.top_k)
    with settings:
        catalog = {m["name"]: m for m in xai_core.methods.describe()}
        chosen = st.multiselect(
            "Methods",
            list(catalog),
            default=[m for m in DEFAULT_METHODS if m in catalog],
            key=state.EXPLAIN_METHODS,
            help="Each method gets its own settings below.",
        )
        with st.form(state.EXPLAIN_FORM):
            target = st.selectbox(
                "Target class (type to search)",
                range(len(labels)),
                index=prepared.top_k[0][0],
                format_func=lambda c: f"{c} · {labels[c]}",
                key=state.target_key(name, image.sha256),
                help="The class whose score is explained; the predicted class by default.",
            )
            requests = [method_settings(catalog[m]) for m in chosen]
            submitted = st.form_submit_button("Compute maps", type="primary", key=state.EXPLAIN_SUBMIT)

    header = st.empty()
    if submitted:
        if chosen:
            st.session_state[state.EXPLAIN_RESULTS] = run_methods(name, model, image, int(target), requests)
        else:
            st.warning("Choose at least one method.")
    run: compute.ExplainRun | None = st.session_state.get(state.EXPLAIN_RESULTS)
    if run is None or (run.model_name, run.image_sha256) != (name, image.sha256):
        header.subheader("Saliency maps")
        st.caption("Choose methods and press **Compute maps**.")
        return
    header.subheader(f"Saliency maps for class {run.target} · {labels[run.target]}")
    display = overlays.controls()
    provenance = {"model": run.model_name, "image": image.name, "image_sha256": run.image_sha256}
    overlays.grid(prepared.display, run.items, display, provenance)


try:
    main()
except Exception as exc:  # the page boundary: a message for the user, the traceback for the log
    log.exception("explain page failed")
    st.error(f"Something went wrong on this page: {exc}")
