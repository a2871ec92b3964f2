"""Take part: a participant's view of a published study (consent, instructions, one trial per screen).

Opened from a study link (``?study=<code>``, optionally ``&pid=<id>``), where ``app.py`` shows this page alone, or
from the navigation, where a code can be typed. Starting adds ``&session=<token>`` to the URL; opening the plain
link again in the same browser resumes (its device key, ``study.resume``); every trial is read from and every
answer written to the database at once, so a reload, a lost connection or a second click loses and duplicates
nothing. A click that arrives as the next question appears is not counted (``MIN_ANSWER_MS``). Everything the study
lead, the link or the participant wrote is shown as text (``safe_text``). The page shows stored PNGs only: it never
runs a model, and it never sees method names.
"""

from __future__ import annotations

import streamlit as st

from pages.components import safe_text, state, study_access
from xai_core import study

MAP_WIDTH = 288  # px: a 224-px map at a readable size; a two-line prompt and the answer still fit 1280x720


def enter_code() -> None:
    st.title("Take part in a study")
    st.write("Type the study code you were given, or open the link the study lead shared.")
    code = st.text_input("Study code", key=state.TAKE_CODE, max_chars=64)
    if st.button("Open the study", key=state.TAKE_START, disabled=not code.strip()):
        st.query_params[study_access.STUDY_PARAM] = code.strip()
        st.rerun()


def landing(db: study.Database, code: str, pid: str | None) -> None:
    """The study link without a session: resume this browser's session, else the welcome page."""
    try:
        info = study.get_study(db, code)
        study.check_participant_id(pid)
    except study.NotFoundError:
        st.error("There is no study with the code in this link. Check the link you were given.")
        return
    except study.StudyError:
        st.error("The participant id in this link is not valid (letters, digits, '-', '_' and '.', up to 64).")
        return
    device = study_access.device_key()
    resumed = study.resume(db, code, device, pid) if device else None
    if resumed is not None:
        st.query_params[study_access.SESSION_PARAM] = resumed.token
        st.rerun()
    welcome(db, info, pid, device)


def welcome(db: study.Database, info: study.StudyInfo, pid: str | None, device: str | None) -> None:
    """Title, instructions and consent of an open study; Start joins it and puts the session token in the URL."""
    st.title(safe_text.text(info.title), anchor=False)
    if info.status != "published":  # refused before consent: nothing to agree to, nothing to press
        word = "closed: it takes no new participants" if info.status == "closed" else "not open yet"
        st.warning(f"This study is {word}. Thank you for your interest.")
        return
    st.markdown(safe_text.block(info.instructions))
    agreed = True
    if info.consent:
        st.subheader("Consent")
        st.markdown(safe_text.block(info.consent))
        agreed = st.checkbox("I have read the above and agree to take part.", key=state.TAKE_CONSENT)
    st.caption(f"{info.trials_per_participant} short questions. Your answers are saved as you go.")
    if st.button("Start", key=state.TAKE_START, type="primary", disabled=not agreed):
        try:
            run = study.join(db, info.code, pid, consented=agreed, device=device)
        except study.StudyError as exc:
            st.error(safe_text.text(exc, limit=400))
            return
        st.query_params[study_access.SESSION_PARAM] = run.token
        st.rerun()


def submit(db: study.Database, token: str, trial: study.TrialView, response: str | int) -> None:
    try:
        study.answer(db, token, trial.trial_id, response, min_ms=study_access.MIN_ANSWER_MS)
    except study.TooSoonError:
        st.info("That click came as this question appeared, so it was not counted. Look at the question, then answer.")
        return
    except study.DatabaseUnavailableError:  # logged with its details by the engine
        st.warning("Your answer was not saved: the server could not reach its database. Please click it again.")
        return
    except study.StudyError as exc:  # an invalid answer, or a trial of another session (AccessDeniedError)
        st.error(f"Your answer was not saved: {safe_text.text(exc)}")
        return
    st.rerun()


def forced_choice(db: study.Database, token: str, trial: study.TrialView) -> None:
    left, right = st.columns(2)
    for column, side, picture in zip((left, right), study.SIDES, trial.images, strict=True):
        column.image(picture, caption=f"{side.capitalize()} map", width=MAP_WIDTH)
        key = state.take_answer_key(trial.trial_id, side)
        if column.button(f"The {side} map", key=key, type="primary", width=MAP_WIDTH):
            submit(db, token, trial, side)


def one_map(db: study.Database, token: str, trial: study.TrialView) -> None:
    """Likert and forward simulation: the image beside its map, then one choice and a submit button."""
    columns = st.columns(2)
    pictures = [(trial.image, "The image"), (trial.images[0], "The map")] if trial.image else [(trial.images[0], "")]
    for column, (picture, caption) in zip(columns, pictures, strict=False):
        column.image(picture, caption=caption or None, width=MAP_WIDTH)
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
                format_func=lambda i: safe_text.text(trial.options[i]),
                index=None,
                horizontal=True,
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
    except study.DatabaseUnavailableError:
        st.warning(
            "The study server cannot reach its database right now. "
            "Reload this page in a minute: your answers so far are saved."
        )
        return
    except study.StudyError as exc:
        st.error(safe_text.text(exc))
        return
    if trial is None:
        st.progress(1.0, text="All done")
        st.success("Thank you! Every answer is saved. You can close this page.")
        return
    st.progress((trial.position - 1) / trial.total, text=f"Question {trial.position} of {trial.total}")
    st.markdown(f"#### {safe_text.text(trial.prompt, limit=500)}")
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
    landing(db, code, st.query_params.get(study_access.PARTICIPANT_PARAM))
