"""Every session-state key and widget key of the app, declared once.

Keys are namespaced ``<page or area>.<name>``. Keys that depend on a method or a parameter are built by the
functions below, so a page never spells a key by hand.
"""

from __future__ import annotations

# Sidebar (app.py): survive page switches because the sidebar is rendered on every page.
MODEL_NAME = "sidebar.model"  # selectbox value: the model id
SAMPLE_ID = "sidebar.sample"  # selectbox value: the bundled sample id
UPLOAD = "sidebar.upload"  # file_uploader value
IMAGE = "image.loaded"  # the LoadedImage being explained (xai_core.images.LoadedImage) or None
IMAGE_ORIGIN = "image.origin"  # what IMAGE was loaded from: ("sample", id) or ("upload", file_id)
IMAGE_ERROR = "image.error"  # message of the last failed upload, or None

# Explain page.
EXPLAIN_METHODS = "explain.methods"  # multiselect: method ids
EXPLAIN_SUBMIT = "explain.submit"  # form submit button
EXPLAIN_RESULTS = "explain.results"  # ExplainRun of the last submit (maps and errors), or None
EXPLAIN_CMAP = "explain.display.cmap"
EXPLAIN_ALPHA = "explain.display.alpha"
EXPLAIN_PERCENTILE = "explain.display.percentile"
EXPLAIN_SIGNED = "explain.display.signed"
EXPLAIN_SHARED = "explain.display.shared"
EXPLAIN_FORM = "explain.form"


def target_key(model_name: str, image_sha256: str) -> str:
    """Target-class selectbox: one per (model, image) so a new image starts at its predicted class."""
    return f"explain.target.{model_name}.{image_sha256[:16]}"


def param_key(method: str, param: str) -> str:
    """A method hyperparameter widget in the explain form."""
    return f"explain.param.{method}.{param}"


def postprocess_key(method: str) -> str:
    """The per-method post-processing choice (none / smoothgrad / vargrad)."""
    return f"explain.post.{method}"


def postprocess_param_key(method: str, param: str) -> str:
    """A SmoothGrad/VarGrad parameter widget of one method."""
    return f"explain.postparam.{method}.{param}"


def download_key(kind: str, index: int, method: str) -> str:
    """A download button under a result (``kind`` is ``png`` or ``npy``)."""
    return f"explain.download.{kind}.{index}.{method}"
