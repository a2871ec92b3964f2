"""Take part: a participant's view of a published study (consent, instructions, one trial per screen).

Opened from a study link (``?study=<code>``, optionally ``&pid=<id>``), where ``app.py`` shows this page alone, or
from the navigation, where a code can be typed. Starting adds ``&session=<token>`` to the URL; every trial is read
from and every answer written to the database at once, so a reload, a lost connection or a second click loses and
duplicates nothing. The page shows stored PNGs only: it never runs a model, and it never sees method names.
"""

from __future__ import annotations

import streamlit as st

from pages.components import state, study_access
from xai_core import study


def enter_code() -> None:
    st.title("Take part in a study")
    st.write("Type the study code you were given, or open the link the study lead shared.")
    code = st.text_input("Study code", key=state.TAKE_CODE, max_chars=64)
    if st.button("Open the study", key=state.TAKE_START, disabled=not code.strip()):
        st.query_params[study_access.STUDY_PARAM] = code.strip()
        st.rerun()


def welcome(db: study.Database, code: str) -> None:
    """Title, instructions and consent of the study; Start joins it and puts the session token in the URL."""
    try:
        info = study.get_study(db, code)
    except study.NotFoundError:
        st.error(f"There is no study with the code {code!r}. Check the link you were given.")
        return
    st.title(info.title)
    if info.status != "published":
        word = "closed to new participants" if info.status == "closed" else "not open yet"
        st.warning(f"This study is {word}.")
    st.markdown(info.instructions)
    agreed = True
    if info.consent:
        st.subheader("Consent")
        st.markdown(info.consent)
        agreed = st.checkbox("I have read the above and agree to take part.", key=state.TAKE_CONSENT)
    st.caption(f"{info.trials_per_participant} short questions. Your answers are saved as you go.")
    if st.button("Start", key=state.TAKE_START, type="primary", disabled=not agreed):
        participant = st.query_params.get(study_access.PARTICIPANT_PARAM)
        try:
            run = study.join(db, code, participant, consented=agreed)
        except study.StudyError as exc:
            st.error(str(exc))
            return
        st.query_params[study_access.SESSION_PARAM] = run.token
        st.rerun()


def submit(db: study.Database, token: str, trial: study.TrialView, response: str | int) -> None:
    try:
        study.answer(db, token, trial.trial_id, response)
    except study.StudyError as exc:  # an invalid answer, or a trial of another session (AccessDeniedError)
        st.error(f"Your answer was not saved: {exc}")
        return
    st.rerun()


def forced_choice(db: study.Database, token: str, trial: study.TrialView) -> None:
    left, right = st.columns(2)
    for column, side, picture in zip((left, right), study.SIDES, trial.images, strict=True):
        column.image(picture, caption=f"{side.capitalize()} map", width="stretch")
        if column.button(
            f"The {side} map", key=state.take_answer_key(trial.trial_id, side), type="primary", width="stretch"
        ):
            submit(db, token, trial, side)


def one_map(db: study.Database, token: str, trial: study.TrialView) -> None:
    """Likert and forward simulation: the image beside its map, then one choice and a submit button."""
    columns = st.columns(2)
    pictures = [(trial.image, "The image"), (trial.images[0], "The map")] if trial.image else [(trial.images[0], "")]
    for column, (picture, caption) in zip(columns, pictures, strict=False):
        column.image(picture, caption=caption or None, width="stretch")
    with st.form(state.take_answer_key(trial.trial_id, "form"), border=False):
        if trial.task == study.LIKERT:
            choice = st.radio(
                "Your rating (1 = not at all, 5 = completely)",
                [int(o) for o in trial.options],
                index=None,
                horizontal=True,
                key=state.take_answer_key(trial.trial_id, "rating"),
            )
        else:
            choice = st.radio(
                "The model's class",
                range(len(trial.options)),
                format_func=lambda i: trial.options[i],
                index=None,
                key=state.take_answer_key(trial.trial_id, "option"),
            )
        sent = st.form_submit_button("Submit", key=state.take_answer_key(trial.trial_id, "submit"), type="primary")
    if sent:
        if choice is None:
            st.warning("Choose an answer first.")
        else:
            submit(db, token, trial, int(choice))


def trials(db: study.Database, token: str) -> None:
    try:
        trial = study.next_trial(db, token)
    except study.NotFoundError:
        st.error("This session link is no longer valid (the study was resumed somewhere else, or the link is cut).")
        if st.button("Start again from the study link", key=state.TAKE_RESTART):
            del st.query_params[study_access.SESSION_PARAM]
            st.rerun()
        return
    except study.StudyError as exc:
        st.error(str(exc))
        return
    if trial is None:
        st.progress(1.0, text="All done")
        st.success("Thank you! Every answer is saved. You can close this page.")
        return
    st.progress((trial.position - 1) / trial.total, text=f"Question {trial.position} of {trial.total}")
    st.subheader(trial.prompt)
    if trial.task == study.FORCED_CHOICE:
        forced_choice(db, token, trial)
    else:
        one_map(db, token, trial)


db = study_access.open_or_explain()
code = st.query_params.get(study_access.STUDY_PARAM)
token = st.query_params.get(study_access.SESSION_PARAM)
if db is None:
    st.stop()
elif not code:
    enter_code()
elif token:
    trials(db, token)
else:
    welcome(db, code)
