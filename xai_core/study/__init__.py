"""Human-evaluation studies of saliency maps: design, storage, participation and analysis (no UI here).

    from xai_core import study
    db = study.open_database()                                    # SQLite file, or $XAI_STUDY_DB_URL
    info = study.create_study(db, study.StudySpec("Which map?", "Pick the better map.", trials_per_participant=12))
    stimuli = study.build_stimuli(model, images, ["saliency", "grad_cam"])   # slow: runs the model, once
    study.publish(db, info.code, stimuli)

    run = study.join(db, info.code, device=key)                   # a participant; keep run.token secret
    trial = study.next_trial(db, run.token)                       # None when done
    study.answer(db, run.token, trial.trial_id, "left", client_ms=2300)
    study.resume(db, info.code, device=key)                       # the same browser, later: a fresh token

    session_id = study.sign_in(token, client)                     # a server-side admin session (lockout per client)
    study.ADMIN_SESSIONS.valid(session_id)                        # before any admin action exposed to people
    summary = study.summarize(study.responses(db, info.code))

Admin functions (create_study, publish, close_study, responses, summarize*, the exports) do not check tokens: a
page exposing them calls ``require_admin`` first. Participant functions need only the session token.
"""

from xai_core.study.admin import (
    ADMIN_SESSIONS,
    ENV_ADMIN_TOKEN,
    MIN_SECRET_LENGTH,
    AdminLockedError,
    AdminSessions,
    SignInGuard,
    check_secret,
    require_admin,
    sign_in,
)
from xai_core.study.analysis import (
    Mean,
    Rate,
    ResponseRecord,
    Strength,
    StudySummary,
    Timing,
    responses,
    summarize,
    summarize_study,
)
from xai_core.study.design import (
    StudyInfo,
    close_study,
    create_study,
    discard_draft,
    get_study,
    list_studies,
    publish,
)
from xai_core.study.errors import (
    AccessDeniedError,
    AdminError,
    DatabaseUnavailableError,
    NotFoundError,
    StudyError,
    TooSoonError,
)
from xai_core.study.export import (
    responses_from_csv,
    responses_from_json,
    responses_to_csv,
    responses_to_json,
    summary_from_json,
    summary_rows,
    summary_to_csv,
    summary_to_json,
)
from xai_core.study.items import check_plan
from xai_core.study.joining import PARTICIPANT_ID_PATTERN, check_participant_id, join, resume
from xai_core.study.participation import (
    MIN_ANSWER_MS,
    Progress,
    Receipt,
    SessionInfo,
    TrialView,
    answer,
    next_trial,
    progress,
)
from xai_core.study.spec import AttentionCheck, Stimulus, StudySpec
from xai_core.study.stats import bradley_terry, fleiss_kappa, krippendorff_alpha, t_interval, wilson_interval
from xai_core.study.stimuli import build_stimuli
from xai_core.study.storage import ENV_URL, Database, open_database, upgrade_to_head
from xai_core.study.tasks import FORCED_CHOICE, FORWARD_SIMULATION, LIKERT, LIKERT_SCALE, SIDES, TASKS

__all__ = [
    "ADMIN_SESSIONS",
    "ENV_ADMIN_TOKEN",
    "ENV_URL",
    "FORCED_CHOICE",
    "FORWARD_SIMULATION",
    "LIKERT",
    "LIKERT_SCALE",
    "MIN_ANSWER_MS",
    "MIN_SECRET_LENGTH",
    "PARTICIPANT_ID_PATTERN",
    "SIDES",
    "TASKS",
    "AccessDeniedError",
    "AdminError",
    "AdminLockedError",
    "AdminSessions",
    "AttentionCheck",
    "Database",
    "DatabaseUnavailableError",
    "Mean",
    "NotFoundError",
    "Progress",
    "Rate",
    "Receipt",
    "ResponseRecord",
    "SessionInfo",
    "SignInGuard",
    "Stimulus",
    "Strength",
    "StudyError",
    "StudyInfo",
    "StudySpec",
    "StudySummary",
    "Timing",
    "TooSoonError",
    "TrialView",
    "answer",
    "bradley_terry",
    "build_stimuli",
    "check_participant_id",
    "check_plan",
    "check_secret",
    "close_study",
    "create_study",
    "discard_draft",
    "fleiss_kappa",
    "get_study",
    "join",
    "krippendorff_alpha",
    "list_studies",
    "next_trial",
    "open_database",
    "progress",
    "publish",
    "require_admin",
    "responses",
    "responses_from_csv",
    "responses_from_json",
    "responses_to_csv",
    "responses_to_json",
    "resume",
    "sign_in",
    "summarize",
    "summarize_study",
    "summary_from_json",
    "summary_rows",
    "summary_to_csv",
    "summary_to_json",
    "t_interval",
    "upgrade_to_head",
    "wilson_interval",
]
