"""Every session-state key and widget key of the app, declared once.

Keys are namespaced ``<page or area>.<name>``. Keys that depend on a method or a parameter are built by the
functions below, so a page never spells a key by hand. Every method-settings form uses one scheme,
``method_key(scope, method, field)``, with one scope per form (``SCOPES``); the values of setting widgets are kept
in ``STORE`` so that they survive page switches (``widgets.keep``).
"""

from __future__ import annotations

STORE = "settings.store"  # dict: widget key -> last value of every kept setting widget (survives page switches)
URL_APPLIED = "settings.url"  # set of (query parameter, scope) this session has read from the address bar (once each)
RUN = "run.current"  # runner.Run of the computation in progress (for the Stop button), or None
RUN_STOPPED = "run.stopped"  # message of the last stopped run, or None
RUN_STOP = "run.stop"  # the Stop button

# The method-settings forms (``method_settings``): one scope per page form.
SCOPES = {
    "explain": "Explain",
    "path": "Path inspector",
    "faith": "Faithfulness",
    "loc": "Localization",
    "axioms.check": "Axioms",
    "axioms.sens": "Max-sensitivity",
    "axioms.frag": "Fragility attack",
    "axioms.sweep": "Hyperparameter sweep",
    "robust": "Robustness & complexity",
    "sanity.measures": "Randomization measures",
    "study": "Study design",
}


def methods_key(scope: str) -> str:
    """The methods picker of a scope (a multiselect, or a selectbox for one method)."""
    return f"{scope}.methods"


def method_key(scope: str, method: str, field: str) -> str:
    """A widget of one method in a scope's form: a parameter name, ``noise.<setting>`` or ``layer``."""
    return f"{scope}.m.{method}.{field}"


def form_key(scope: str) -> str:
    return f"{scope}.form"


def submit_key(scope: str) -> str:
    return f"{scope}.submit"


# Measures of the metric registry on a page (``measures``): the picker, one widget per setting, the Stop button.
def measures_key(scope: str) -> str:
    """The measures picker of a scope (a multiselect of metric ids)."""
    return f"{scope}.measures"


def measure_setting_key(scope: str, param: str, variant: str = "") -> str:
    """The widget of setting ``param`` shared by the scope's measures that declare it alike; ``variant`` (the first
    measure declaring it otherwise) tells apart a setting two measures declare differently (a seed of noise or of
    masks)."""
    return f"{scope}.set.{param}" + (f"@{variant}" if variant else "")


def measure_stop_key(scope: str) -> str:
    """The Stop button of a scope's measures run (the maps' run before it has ``RUN_STOP``)."""
    return f"{scope}.stop"


def measure_results_key(scope: str) -> str:
    """``measures.Run`` of the scope's last submit, or None."""
    return f"{scope}.results"


# Sidebar (app.py): survive page switches because the sidebar is rendered on every page.
MODEL_NAME = "sidebar.model"  # selectbox value: the model id
WEIGHTS_UPLOAD = "sidebar.weights.upload"  # file_uploader: a state dict for a model that needs a weights file
WEIGHTS_PATH = "sidebar.weights.path"  # selectbox: a weights file in XAI_WEIGHTS_DIR
WEIGHTS = "sidebar.weights"  # (model id, weights label, ModelWrapper) loaded from an upload or path, or None
SAMPLE_ID = "sidebar.sample"  # selectbox value: the bundled sample id
UPLOAD = "sidebar.upload"  # file_uploader value
CAMERA_ON = "sidebar.camera.on"  # toggle: show the camera input
CAMERA = "sidebar.camera"  # camera_input value (a photo taken in the browser)
IMAGE = "image.loaded"  # the LoadedImage being explained (xai_core.images.LoadedImage) or None
IMAGE_ORIGIN = "image.origin"  # what IMAGE was loaded from: ("sample", id) or ("upload", file_id)
IMAGE_ERROR = "image.error"  # message of the last failed upload, or None

# Explain page.
EXPLAIN_METHODS = methods_key("explain")  # multiselect: method ids
EXPLAIN_SUBMIT = submit_key("explain")  # form submit button
EXPLAIN_RESULTS = "explain.results"  # ExplainRun of the last submit (maps and errors), or None
EXPLAIN_CMAP = "explain.display.cmap"
EXPLAIN_ALPHA = "explain.display.alpha"
EXPLAIN_PERCENTILE = "explain.display.percentile"
EXPLAIN_SIGNED = "explain.display.signed"
EXPLAIN_SHARED = "explain.display.shared"
EXPLAIN_SPLIT = "explain.display.split"  # comparison slider: percent of the width showing the overlay
EXPLAIN_FORM = form_key("explain")
EXPLAIN_SEND = "explain.send"  # selectbox: the page the explained requests are sent to
EXPLAIN_SEND_BUTTON = "explain.send.button"


def target_key(model_name: str, image_sha256: str) -> str:
    """Target-class selectbox: one per (model, image) so a new image starts at its predicted class."""
    return f"explain.target.{model_name}.{image_sha256[:16]}"


def download_key(kind: str, index: int, method: str) -> str:
    """A download button under a result (``kind`` is ``png``, ``npy`` or ``json``)."""
    return f"explain.download.{kind}.{index}.{method}"


# Path inspector page.
PATH_METHOD = methods_key("path")  # selectbox: the path method
PATH_FORM = form_key("path")
PATH_SUBMIT = submit_key("path")
PATH_RESULT = "path.result"  # (model id, image sha256, compute.MapResult) of the last walk, or None
PATH_CHART = "path.chart"  # the path profile chart


def path_target_key(model_name: str, image_sha256: str) -> str:
    """Target-class selectbox of the path inspector, one per (model, image) as on the Explain page."""
    return f"path.target.{model_name}.{image_sha256[:16]}"


# Faithfulness page.
FAITH_METHODS = methods_key("faith")  # multiselect: method ids
FAITH_FORM = form_key("faith")
FAITH_MEASURES = measures_key("faith")  # multiselect: metric ids of the faithfulness family


def faith_setting_key(name: str) -> str:
    """The widget of the faithfulness measures' setting ``name`` (as the perturbation curves declare it)."""
    return measure_setting_key("faith", name)


FAITH_STEPS = faith_setting_key("steps")
FAITH_SUBSTRATE = faith_setting_key("substrate")
FAITH_GRANULARITY = faith_setting_key("granularity")
FAITH_OUTPUT = faith_setting_key("output")
FAITH_SUBMIT = submit_key("faith")
FAITH_RESULTS = measure_results_key("faith")  # measures.Run of the last submit (maps, scores, settings), or None
FAITH_VIEW_METHOD = "faith.view.method"  # step viewer: which map
FAITH_VIEW_CURVE = "faith.view.curve"  # step viewer: which perturbation curve
FAITH_VIEW_STEP = "faith.view.step"  # step viewer: the step k
FAITH_CHART = "faith.chart"  # the curves of every curve measure
FAITH_ABOUT = "faith.about"  # the table of the registered measures

# Robustness & complexity page.
ROBUST_METHODS = methods_key("robust")
ROBUST_MEASURES = measures_key("robust")
ROBUST_FORM = form_key("robust")
ROBUST_SUBMIT = submit_key("robust")
ROBUST_RESULTS = measure_results_key("robust")
ROBUST_WORST = "robust.worst"  # selectbox: the measure whose worst case is shown
ROBUST_CHART = "robust.chart"  # the measure's value per perturbed copy
ROBUST_ABOUT = "robust.about"


# Localization page.
LOC_METHODS = methods_key("loc")  # multiselect: method ids
LOC_FORM = form_key("loc")
LOC_SUBMIT = submit_key("loc")
LOC_RESULTS = "loc.results"  # (model id, image sha256, maps) of the last submit, or None
LOC_UPLOAD = "loc.upload"  # file_uploader: CSV/JSON boxes
LOC_MEASURES = measures_key("loc")
LOC_CHART = "loc.chart"  # the curves of the curve measures (extended pointing game)
LOC_DRAW = "loc.draw"  # plotly_chart selection: a box dragged on the image
LOC_TOOL = "loc.tool"  # radio: what dragging on the image draws (the box, a mask polygon, a mask rectangle, erase)
LOC_MASK_DRAW = "loc.mask.draw"  # plotly_chart selection: a lasso or box drawn for the mask
LOC_MASK_UPLOAD = "loc.mask.upload"  # file_uploader: a mask PNG
LOC_MASK_APPLIED = "loc.mask.applied"  # (upload file id, image sha256) last turned into a mask
LOC_MASK_CLEAR = "loc.mask.clear"  # button
LOC_MASK_DOWNLOAD = "loc.mask.download"
LOC_ABOUT = "loc.about"
LOC_TABLE = "loc.table"
LOC_SCORES = "loc.scores"  # measures.Run of the current box, mask and settings


def mask_key(image_sha256: str) -> str:
    """The drawn or uploaded mask of one image (bool [H, W] in the displayed input's pixels), or absent."""
    return f"loc.mask.{image_sha256[:16]}"


def box_key(image_sha256: str, coordinate: str) -> str:
    """One of the four box inputs (``x0``, ``y0``, ``x1``, ``y1``), per image so each starts at its annotation."""
    return f"loc.box.{image_sha256[:16]}.{coordinate}"


# Sanity checks page: model randomization (form, results, display) and data randomization (form, results).
SANITY_FORM = "sanity.form"
SANITY_METHODS = "sanity.methods"  # multiselect: method ids
SANITY_MODE = "sanity.mode"  # radio: cascading or independent
SANITY_LAYER_CHOICE = "sanity.layers.choice"  # radio: every k-th, first N from the logits, all
SANITY_EVERY = "sanity.layers.every"  # k
SANITY_FIRST = "sanity.layers.first"  # N
SANITY_SEED = "sanity.seed"
SANITY_SUBMIT = "sanity.submit"
SANITY_RESULTS = "sanity.results"  # (model id, image sha256, runs and failures) of the last submit, or None
SANITY_ON_IMAGE = "sanity.display.on_image"  # toggle: maps over the image or alone
SANITY_SHARED = "sanity.display.shared"  # toggle: one scale per method row
SANITY_CHART = "sanity.chart"  # similarity curves
SANITY_DATA_FORM = "sanity.data.form"
SANITY_DATA_METHODS = "sanity.data.methods"  # multiselect: method ids
SANITY_DATA_IMAGES = "sanity.data.images"  # number of test digits
SANITY_DATA_SUBMIT = "sanity.data.submit"
SANITY_DATA_RESULTS = "sanity.data.results"  # list of data randomization runs and failures of the last submit
SANITY_RANDOMIZE = "sanity.randomize"  # radio: re-initialise or shuffle the weights
SANITY_MEASURES_SCOPE = "sanity.measures"  # the randomization measures' methods form (``SCOPES``)
SANITY_MEASURES = measures_key(SANITY_MEASURES_SCOPE)
SANITY_MEASURES_SUBMIT = submit_key(SANITY_MEASURES_SCOPE)
SANITY_MEASURES_RESULTS = measure_results_key(SANITY_MEASURES_SCOPE)
SANITY_MEASURES_CHART = "sanity.measures.chart"
SANITY_MEASURES_ABOUT = "sanity.measures.about"


# Learn page.
PRESENTATION = "learn.presentation"  # bool: presentation mode; a plain key (not a widget's) so it survives pages
PRESENTATION_TOGGLE = "learn.presentation.toggle"  # the toggle widget, re-seeded from PRESENTATION on every run
LEARN_MAP_CHART = "learn.map.chart"
LEARN_RULES_FORWARD = "learn.rules.forward"  # data_editor: the ReLU's forward input z (3x3)
LEARN_RULES_SIGNAL = "learn.rules.signal"  # data_editor: the backward signal R from above (3x3)
LEARN_RULES_Q = "learn.rules.q"  # RectGrad's percentile
LEARN_RULES_ACTIVATION = "learn.rules.activation"  # read-only grid: relu(z)
LEARN_SAT_FUNCTION = "learn.saturation.function"
LEARN_SAT_INPUT = "learn.saturation.input"
LEARN_SAT_STEPS = "learn.saturation.steps"
LEARN_SAT_RULE = "learn.saturation.rule"
LEARN_SAT_CHART = "learn.saturation.chart"
LEARN_LRP_RUN = "learn.lrp.run"  # toggle: compare epsilon-LRP and gradient x input on the sidebar's image


def learn_family_key(family: str) -> str:
    """The method picker of a family's card on the Learn page."""
    return f"learn.family.{family}"


def learn_run_key(method: str) -> str:
    """A card's "Run on the photo" button."""
    return f"learn.run.{method}"


def learn_rule_output_key(rule: str) -> str:
    """The read-only output grid of one backward rule (``gradient``, ``deconvnet``, ``guided``, ``rectgrad``)."""
    return f"learn.rules.output.{rule}"


# Axioms & robustness page: one method-settings scope per section (``SCOPES``).
AXIOMS_PARAMS = "axioms.check"
SENS_PARAMS = "axioms.sens"
FRAG_PARAMS = "axioms.frag"
SWEEP_PARAMS = "axioms.sweep"
AXIOMS_METHODS = methods_key(AXIOMS_PARAMS)  # multiselect: method ids
AXIOMS_FORM = form_key(AXIOMS_PARAMS)
AXIOMS_SUBMIT = submit_key(AXIOMS_PARAMS)
AXIOMS_RESULTS = "axioms.check.results"  # checks_compute.Run of the last submit, or None
SENS_METHODS = methods_key(SENS_PARAMS)
SENS_FORM = form_key(SENS_PARAMS)
SENS_RADIUS = "axioms.sens.radius"
SENS_SAMPLES = "axioms.sens.samples"
SENS_SEED = "axioms.sens.seed"
SENS_SUBMIT = submit_key(SENS_PARAMS)
SENS_RESULTS = "axioms.sens.results"
FRAG_METHOD = methods_key(FRAG_PARAMS)  # selectbox: one method id
FRAG_FORM = form_key(FRAG_PARAMS)
FRAG_EPSILON = "axioms.frag.epsilon"  # L_inf budget in 1/255 pixel units
FRAG_STEPS = "axioms.frag.steps"
FRAG_TOP_K = "axioms.frag.top_k"
FRAG_SEED = "axioms.frag.seed"
FRAG_SUBMIT = submit_key(FRAG_PARAMS)
FRAG_RESULTS = "axioms.frag.results"
SWEEP_METHOD = methods_key(SWEEP_PARAMS)
SWEEP_PARAM = "axioms.sweep.param"  # selectbox: the swept parameter of SWEEP_METHOD
SWEEP_FORM = form_key(SWEEP_PARAMS)
SWEEP_FAITHFULNESS = "axioms.sweep.faithfulness"  # checkbox: also insertion/deletion AUC per value
SWEEP_SUBMIT = submit_key(SWEEP_PARAMS)
SWEEP_RESULTS = "axioms.sweep.results"
SWEEP_CHART = "axioms.sweep.chart"


def sweep_param_key(method: str) -> str:
    """The swept parameter of a method (each method starts at its own first number)."""
    return f"axioms.sweep.param.{method}"


def sweep_values_key(method: str, param: str) -> str:
    """The comma-separated values of a sweep, one per (method, parameter) so each starts at its own default."""
    return f"axioms.sweep.values.{method}.{param}"


def interaction_region_key(index: int) -> str:
    """The region picker under the ``index``-th map (Integrated Hessians)."""
    return f"explain.interaction_region.{index}"


# Studies: the admin sign-in (sidebar), the participant page, the design and results pages.
# (The admin session itself is an HttpOnly cookie checked on the server: pages/components/study_access.py.)
STUDY_SIGN_OUT = "study.admin.sign_out"
TAKE_CODE = "study.take.code"  # text_input: a study code typed on the Take part page
TAKE_CONSENT = "study.take.consent"  # checkbox: "I agree"
TAKE_START = "study.take.start"
TAKE_RESTART = "study.take.restart"  # button: leave an invalid session link
DESIGN_FORM = "study.design.form"
DESIGN_TITLE = "study.design.title"
DESIGN_INSTRUCTIONS = "study.design.instructions"
DESIGN_CONSENT = "study.design.consent"
DESIGN_TASKS = "study.design.tasks"
DESIGN_TRIALS = "study.design.trials"
DESIGN_ATTENTION = "study.design.attention"
DESIGN_OPTIONS = "study.design.options"  # forward simulation: options per trial
DESIGN_SEED = "study.design.seed"
DESIGN_SAMPLES = "study.design.samples"  # multiselect: bundled sample ids
DESIGN_UPLOADS = "study.design.uploads"  # file_uploader (several files)
DESIGN_METHODS = "study.design.methods"  # multiselect: method ids (outside the form: it shapes the form)
DESIGN_SUBMIT = "study.design.submit"
DESIGN_CREATED = "study.design.created"  # code of the study published by the last submit, or None
DESIGN_CLOSE_CODE = "study.design.close.code"
DESIGN_CLOSE = "study.design.close"
DESIGN_CLOSE_PENDING = "study.design.close.pending"  # code of the study whose closing awaits confirmation, or None
DESIGN_CLOSE_YES = "study.design.close.yes"
DESIGN_CLOSE_NO = "study.design.close.no"
RESULTS_STUDY = "study.results.study"  # selectbox: the study code
RESULTS_EXCLUDE = "study.results.exclude"  # toggle: leave out participants who failed an attention check
RESULTS_CONFIDENCE = "study.results.confidence"


def take_answer_key(trial_id: int, what: str) -> str:
    """A widget of one trial on the Take part page (a fresh key per trial, so no answer carries over)."""
    return f"study.take.trial.{trial_id}.{what}"


def study_download_key(code: str, what: str) -> str:
    """A download button of the results page (``what``: responses.csv, summary.json, ...)."""
    return f"study.results.download.{code}.{what}"
