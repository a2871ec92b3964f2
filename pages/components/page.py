"""The page skeleton: the one guard for "no model / no image", and the subject every Explore/Evaluate page works on.

    subject = page.subject()          # stops the page with a message when the sidebar has no model or no image
    page.picture(subject, column)     # the image as the model sees it

Error handling is not here: app.py is the app's only error boundary (a message in the page, the traceback in the
log). A page is a short script: read the subject, render its form (``method_settings``), compute through
``compute``/``runner``, render results; any logic beyond that belongs in a component or in ``xai_core``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

import xai_core
from pages.components import compute, sidebar, state

NO_MODEL = "Choose a model that loads (see the message in the sidebar)."
NO_IMAGE = "Choose a sample image or upload a valid image in the sidebar."


@dataclass(frozen=True)
class Subject:
    """The sidebar's model and image, with the model's view of the image and its top predictions."""

    model_name: str
    model: Any
    image: xai_core.LoadedImage
    prepared: compute.Prepared

    @property
    def labels(self) -> list[str]:
        return list(self.model.labels)

    @property
    def predicted(self) -> int:
        return self.prepared.top_k[0][0]

    def label(self, target: int) -> str:
        return f"{target} · {self.model.labels[target]}"


def current() -> Subject | None:
    """The subject, or None after showing what is missing (for a page that has other things to show)."""
    name, model = sidebar.current_model()
    image = st.session_state.get(state.IMAGE)
    if model is None:
        st.info(NO_MODEL)
        return None
    if image is None:
        st.info(NO_IMAGE)
        return None
    return Subject(name, model, image, compute.prepare(name, image.sha256, model, image.image))


def subject() -> Subject:
    """The subject; without a model or an image the page shows what is missing and stops here."""
    found = current()
    if found is None:
        st.stop()
    assert found is not None  # st.stop() raises
    return found


def picture(found: Subject, where: Any, caption: str | None = None) -> None:
    """The image as the model sees it (captioned with its name, or ``caption``)."""
    where.image(found.prepared.display, caption=caption or f"{found.image.name}, as the model sees it", width="stretch")
