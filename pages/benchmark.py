"""Benchmark page: a dataset evaluation's results (a results folder, or an uploaded Parquet/CSV of its rows) as a
method x metric table with bootstrap intervals and ranks, per-method distributions and mean curves; a row of the
per-image table shows that image with its maps. A small local run over the bundled samples fills a folder here.

Everything is computed by ``xai_core.evaluation``; names, paths and labels from users are shown as text.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import xai_core
from pages.components import sidebar
from xai_core import metrics, viz
from xai_core.evaluation import (
    Evaluation,
    ModelSpec,
    inputs,
    plots,
    read_file,
    read_rows,
    read_spec,
    run,
    summarize,
    views,
)

log = logging.getLogger(__name__)
SOURCE, FOLDER, OPEN, UPLOAD = "bench.source", "bench.folder", "bench.open", "bench.upload"
RUN_METHODS, RUN_METRICS, RUN_STEPS, RUN_IMAGES, RUN = (
    "bench.methods",
    "bench.metrics",
    "bench.steps",
    "bench.n",
    "bench.run",
)
LOADED, ROWS, METRIC = "bench.loaded", "bench.rows", "bench.metric"
SOURCES = ("Run on the bundled samples", "Open a results folder", "Upload rows (Parquet or CSV)")
CURVE_METRICS = ["insertion", "deletion"]


def load_folder(folder: Path) -> None:
    if not (folder / "spec.json").is_file():
        st.session_state[LOADED] = None
        st.error("That folder has no spec.json: it is not a results folder.")
        st.text(str(folder))
        return
    st.session_state[LOADED] = (str(folder), read_rows(folder))


def run_samples() -> None:
    """The form of a small local run; its results folder lives as long as the session."""
    methods = st.multiselect("Methods", xai_core.methods.available(), ["saliency", "grad_cam"], key=RUN_METHODS)
    names = st.multiselect(
        "Metrics", metrics.available(needs=("model", "inputs", "maps")), CURVE_METRICS, key=RUN_METRICS
    )
    steps = st.number_input("Curve steps", 1, 200, 10, key=RUN_STEPS, help="points on each curve: steps + 1")
    count = st.number_input("Images", 1, len(xai_core.sample_images()), 2, key=RUN_IMAGES)
    if not st.button("Run", key=RUN, type="primary", disabled=not (methods and names)):
        return
    name, model = sidebar.current_model()
    if model is None:
        st.error("The model could not be loaded; see the sidebar.")
        return
    folder = Path(tempfile.mkdtemp(prefix="benchmark-"))
    images = inputs.scan_folder(inputs.write_samples(folder / "samples", list(xai_core.sample_images())[: int(count)]))
    settings = {"steps": int(steps)} if any("steps" in metrics.resolve(n, {}) for n in names) else {}
    evaluation = Evaluation(
        out=folder / "results", images=images, requests={m: xai_core.Request.create(m) for m in methods},
        metrics=metrics.resolve_many(names, settings), model=ModelSpec(name), save_maps=True,
        inputs={"root": str(folder / "samples")},
    )  # fmt: skip
    bar = st.progress(0.0, text="Starting…")
    report = run(
        evaluation,
        model=model,
        progress=lambda done, total: bar.progress(done / max(total, 1), text=f"{done} of {total} items"),
    )
    bar.progress(1.0, text=f"{report.computed} items in {report.seconds:.1f} s")
    load_folder(report.out)


def show(folder: str | None, frame: pd.DataFrame) -> None:
    table = summarize.summary_table(frame, resamples=1000)
    if table.empty:
        st.info("No metric rows yet.")
        return
    st.subheader("Methods x metrics")
    st.caption("mean [bootstrap 95% interval] (n) #rank; the rank follows each metric's better direction.")
    st.dataframe(summarize.wide(table))
    st.download_button("Summary (CSV)", table.to_csv(index=False), "summary.csv", "text/csv", key="bench.download")
    left, right = st.columns(2)
    metric = left.selectbox("Distribution of", sorted(table["metric"].unique()), key=METRIC)
    left.plotly_chart(plots.distributions(frame, metric), key="bench.dist")
    curves = plots.curve_metrics(frame)
    if curves:
        right.plotly_chart(plots.mean_curves(frame, curves[0]), key="bench.curve")
        for extra in curves[1:]:
            right.plotly_chart(plots.mean_curves(frame, extra), key=f"bench.curve.{extra}")
    st.subheader("Per image")
    shown = summarize.metric_rows(frame)[["image", "method", "metric", "value", "status", "error", "target"]]
    picked = st.dataframe(shown, on_select="rerun", selection_mode="single-row", key=ROWS)
    chosen = picked.selection.rows if picked is not None else []
    if chosen and folder is not None:
        show_image(Path(folder), frame, str(shown.iloc[chosen[0]]["image"]))
    elif chosen:
        st.info("An uploaded file has rows only: open its results folder to see images and maps.")


def show_image(folder: Path, frame: pd.DataFrame, image_id: str) -> None:
    spec = read_spec(folder)
    try:
        if spec is None:
            raise ValueError("the folder has no spec.json")
        view = views.image_view(folder, spec, frame, image_id)
    except (ValueError, OSError) as exc:
        st.error("This image cannot be shown.")
        st.text(str(exc))
        return
    st.text(image_id)
    columns = st.columns(1 + len(view.maps))
    columns[0].image(view.crop, width=224)
    columns[0].text("input (model crop)")
    for column, (method, m) in zip(columns[1:], view.maps.items(), strict=True):
        column.image(viz.overlay(view.crop, viz.normalize(m)), width=224)
        column.text(method)  # a label from the results folder: plain text
    if not view.maps:
        st.caption("No maps were saved for this image (evaluate with --save-maps).")


st.title("Benchmark")
st.caption("Methods x metrics over a data set: python -m xai_core evaluate writes a results folder; open it here.")
source = st.radio("Source", SOURCES, key=SOURCE, horizontal=True)
if source == SOURCES[0]:
    run_samples()
elif source == SOURCES[1]:
    typed = st.text_input("Results folder", key=FOLDER, placeholder="/path/to/results")
    if st.button("Open", key=OPEN) and typed.strip():
        load_folder(Path(typed.strip()).expanduser())
else:
    uploaded = st.file_uploader("Rows", ["parquet", "csv"], key=UPLOAD)
    if uploaded is not None:
        with tempfile.NamedTemporaryFile(suffix=Path(uploaded.name).suffix.lower()) as handle:
            handle.write(uploaded.getvalue())
            handle.flush()
            try:
                st.session_state[LOADED] = (None, read_file(Path(handle.name)))
            except (ValueError, OSError, KeyError) as exc:
                st.error("That file is not a results file.")
                st.text(str(exc))
loaded = st.session_state.get(LOADED)
if loaded:
    if loaded[0]:
        st.text(f"Results: {loaded[0]}")
    show(*loaded)
