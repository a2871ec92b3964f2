"""Study design (admin only): the studies so far with their links, closing one, and designing a new one.

A new study takes images (bundled samples and uploads), the model chosen in the sidebar, methods with their
parameters (the registry's forms), task types, trial counts and optional consent and attention checks. Publishing
checks the plan first (``study.check_plan``), then computes every map once (``study.build_stimuli``) and stores it:
participants are shown the stored PNGs. Closing a study asks for confirmation and checks the admin session again.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

import xai_core
from pages.components import method_settings, safe_text, sidebar, state, study_access
from xai_core import study

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("saliency", "grad_cam", "integrated_gradients")
DEFAULT_SAMPLES = ("chelsea", "coffee")
TASK_NAMES = {
    study.FORCED_CHOICE: "Forced choice between two maps",
    study.LIKERT: "Likert rating of one map",
    study.FORWARD_SIMULATION: "Forward simulation (predict the model)",
}
# Attention checks with a known answer, one form per task; shown on the first stimuli.
ATTENTION_PROMPTS = {
    study.FORCED_CHOICE: ("Attention check: please choose the map on the right.", "right"),
    study.LIKERT: ("Attention check: please answer 2 for this map.", 2),
    study.FORWARD_SIMULATION: ("Attention check: please choose the option 'attention'.", 0),
}


def studies_table(db: study.Database) -> None:
    found = study.list_studies(db)
    if not found:
        st.info("No studies yet: design one below.")
        return
    rows = [
        {
            "title": s.title,
            "code": s.code,
            "status": s.status,
            "tasks": ", ".join(s.tasks),
            "stimuli": s.stimuli,
            "participants": s.participants,
            "finished": s.finished,
            "link": study_access.share_link(s.code) if s.status == "published" else "",
        }
        for s in found
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    published = {s.code: s.title for s in found if s.status == "published"}
    if published:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        code = c1.selectbox(
            "Close a study to new participants",
            list(published),
            format_func=lambda c: f"{published[c]} ({c})",
            key=state.DESIGN_CLOSE_CODE,
        )
        if c2.button("Close study…", key=state.DESIGN_CLOSE):
            st.session_state[state.DESIGN_CLOSE_PENDING] = code
        confirm_close(db, published)


def confirm_close(db: study.Database, published: dict[str, str]) -> None:
    """The second step of closing: say what it does, then close only on "Yes" from a still-valid admin session."""
    code = st.session_state.get(state.DESIGN_CLOSE_PENDING)
    if code not in published:
        return
    st.warning(
        f"Close {safe_text.quoted(published[code])}? Nobody new can join; participants who have started may finish. "
        "A closed study cannot be reopened."
    )
    yes, no = st.columns(2)
    if yes.button("Yes, close it", key=state.DESIGN_CLOSE_YES, type="primary"):
        st.session_state[state.DESIGN_CLOSE_PENDING] = None
        if study_access.is_admin():  # asked again at the moment of closing: the session may have ended meanwhile
            study.close_study(db, code)
        st.rerun()
    if no.button("Cancel", key=state.DESIGN_CLOSE_NO):
        st.session_state[state.DESIGN_CLOSE_PENDING] = None
        st.rerun()


def spec_widgets() -> dict[str, Any]:
    """The study's text and counts (inside the form); returned as StudySpec keyword arguments."""
    title = st.text_input("Title", "Which saliency map explains the model better?", key=state.DESIGN_TITLE)
    instructions = st.text_area(
        "Instructions (shown to participants as plain text)",
        "You will see images with coloured maps of what a neural network looked at. Answer each question by your "
        "own judgement; there are no trick questions.",
        key=state.DESIGN_INSTRUCTIONS,
    )
    consent = st.text_area(
        "Consent text (optional; participants must agree before they start)", key=state.DESIGN_CONSENT
    )
    tasks = st.multiselect(
        "Tasks", list(TASK_NAMES), [study.FORCED_CHOICE], format_func=TASK_NAMES.get, key=state.DESIGN_TASKS
    )
    c1, c2, c3, c4 = st.columns(4)
    trials = c1.number_input("Trials per participant", 1, 500, 6, key=state.DESIGN_TRIALS)
    checks = c2.number_input("Attention checks each", 0, 20, 0, key=state.DESIGN_ATTENTION)
    options = c3.number_input("Options (forward simulation)", 2, 10, 4, key=state.DESIGN_OPTIONS)
    seed = c4.number_input("Seed (0 = random)", 0, 2**31 - 1, 0, key=state.DESIGN_SEED, help="Fixes the trial orders")
    return {
        "title": title,
        "instructions": instructions,
        "consent": consent.strip() or None,
        "tasks": tuple(tasks),
        "trials_per_participant": int(trials),
        "attention_checks": int(checks),
        "simulation_options": int(options),
        "seed": int(seed) or None,
    }


def chosen_images(samples: list[str], uploads: list[Any]) -> list[xai_core.LoadedImage]:
    """The bundled samples and the uploads, decoded; an unreadable upload raises ImageError naming the file."""
    return [xai_core.load_sample(s) for s in samples] + [sidebar.load_upload(u) for u in uploads]


def attention_checks(spec: study.StudySpec) -> list[study.AttentionCheck]:
    """``spec.attention_checks`` checks per task (every participant can then draw enough), on stimuli 0 and 1."""
    checks = []
    for task in spec.tasks:
        prompt, correct = ATTENTION_PROMPTS[task]
        stimuli = (0, 1) if task == study.FORCED_CHOICE else (0,)
        options = ("attention", "none of these") if task == study.FORWARD_SIMULATION else ()
        checks += [study.AttentionCheck(task, prompt, correct, stimuli, options)] * spec.attention_checks
    return checks


def publish(db: study.Database, model: Any, fields: dict[str, Any], images: list[Any], specs: list[Any]) -> None:
    spec = study.StudySpec(**fields)  # validates before the (slow) maps are computed
    study.check_plan(spec, len(images), len(specs))  # a plan the images cannot fill fails now, not after the maps
    bar = st.progress(0.0, text="Computing the maps…")
    try:
        params = {s.method: s.params for s in specs}
        stimuli = study.build_stimuli(model, images, [s.method for s in specs], params, progress=bar.progress)
    finally:
        bar.empty()
    info = study.create_study(db, spec)
    try:
        study.publish(db, info.code, stimuli, attention_checks(spec))
    except study.StudyError:
        study.discard_draft(db, info.code)  # a plan the pool cannot fill: no empty draft left in the list
        raise
    st.session_state[state.DESIGN_CREATED] = info.code


def new_study(db: study.Database, model_name: str, model: Any) -> None:
    catalog = {m["name"]: m for m in xai_core.methods.describe()}
    methods = st.multiselect("Methods to compare", list(catalog), list(DEFAULT_METHODS), key=state.DESIGN_METHODS)
    with st.form(state.DESIGN_FORM):
        fields = spec_widgets()
        samples = st.multiselect(
            "Bundled sample images", list(xai_core.sample_images()), list(DEFAULT_SAMPLES), key=state.DESIGN_SAMPLES
        )
        uploads = st.file_uploader(
            "…and your own images", type=sidebar.UPLOAD_TYPES, accept_multiple_files=True, key=state.DESIGN_UPLOADS
        )
        specs = method_settings.form("study", methods, with_noise=False)
        st.caption(f"Maps are computed with **{model_name}** (the sidebar's model) for each image's predicted class.")
        submitted = st.form_submit_button("Publish the study", type="primary", key=state.DESIGN_SUBMIT)
    if not submitted:
        return
    try:
        images = chosen_images(samples, list(uploads or []))
        if not images or not specs:
            raise study.StudyError("choose at least one image and one method")
        publish(db, model, fields, images, specs)
    except (study.StudyError, xai_core.ImageError, xai_core.ParameterError) as exc:
        st.error(f"The study was not published: {safe_text.text(exc, limit=500)}")
        return
    st.rerun()


study_access.require_admin_page()
st.title("Study design")
db = study_access.open_or_explain()
if db is not None:
    created = st.session_state.get(state.DESIGN_CREATED)
    if created:
        st.success("Published. Participants open this link:")
        st.code(study_access.share_link(created), language=None)
    studies_table(db)
    st.header("New study")
    model_name, model = sidebar.current_model()
    if model is None:
        st.error(f"The model {safe_text.quoted(model_name)} cannot be loaded; pick another in the sidebar.")
    else:
        new_study(db, model_name, model)
