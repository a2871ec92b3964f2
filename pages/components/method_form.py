"""Per-method settings expanders (the method's parameter schema via ``param_form``), for use inside an ``st.form``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from pages.components import param_form, state
from pages.components.compute import Spec


def specs(page: str, catalog: dict[str, dict[str, Any]], chosen: Sequence[str]) -> list[Spec]:
    """One expander per chosen method with its hyperparameters; widget keys ``state.method_param_key(page, ...)``."""
    out = []
    for name in chosen:
        meta = catalog[name]
        with st.expander(f"**{name}** settings"):
            st.caption(f"{meta['summary']} [{meta['paper']}]({meta['url']})" if meta.get("url") else meta["summary"])
            params = param_form.render(meta["params"], lambda p, name=name: state.method_param_key(page, name, p))
            if not meta["params"]:
                st.caption("This method has no hyperparameters.")
        out.append(Spec(name, params))
    return out
