"""Per-method settings expanders (the method's parameter schema via ``param_form``), for use inside an ``st.form``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

import xai_core
from pages.components import param_form, state
from pages.components.compute import Failure


def specs(page: str, catalog: dict[str, dict[str, Any]], chosen: Sequence[str]) -> list[xai_core.Request | Failure]:
    """One expander per chosen method with its hyperparameters; widget keys ``state.method_param_key(page, ...)``.

    Each method gives its validated ``Request``, or a ``Failure`` naming the bad setting."""
    out = []
    for name in chosen:
        meta = catalog[name]
        with st.expander(f"**{name}** settings"):
            st.caption(f"{meta['summary']} [{meta['paper']}]({meta['url']})" if meta.get("url") else meta["summary"])
            params = param_form.render(meta["params"], lambda p, name=name: state.method_param_key(page, name, p))
            if not meta["params"]:
                st.caption("This method has no hyperparameters.")
        try:
            out.append(xai_core.Request.create(name, params))
        except xai_core.ParameterError as exc:
            out.append(Failure(name, str(exc)))
    return out
