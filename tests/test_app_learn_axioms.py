"""AppTest of the Learn and the Axioms & robustness pages.

Learn: the survey's Figure 3 computed by the engine's rules (and edited), IG's saturation numbers, the presentation
toggle across page switches, a teaching note for every registered method. Axioms: one real run of each check on
the bundled model with light settings (saliency axioms, a one-step fragility attack on 100 pixels, a two-value
sweep, one-draw max-sensitivity) and the messages for bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import xai_core
from pages.components import method_map, rules_demo, state
from xai_core import checks, metrics, noise, teaching

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
LEARN, AXIOMS, EXPLAIN = "pages/learn.py", "pages/axioms.py", "pages/explain.py"
# Survey Fig. 3 outputs for its forward input and backward signal.
EXPECTED = {
    "gradient": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}


def open_page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.sidebar) > 0  # routed through app.py: the shared sidebar is there
    return at


def rule_grids(at: AppTest) -> dict[str, np.ndarray]:
    """The four output grids, after the two editors and the activation grid (page order: rules_demo.RULES)."""
    frames = [t.value.to_numpy(dtype=float) for t in at.table]  # HTML tables (presentation mode enlarges them)
    assert len(frames) == 1 + len(rules_demo.RULES)
    return dict(zip(rules_demo.RULES, frames[1:], strict=True))


# --- Learn ----------------------------------------------------------------------------------------------------------


def test_figure_3_grids_are_the_surveys() -> None:
    at = open_page(LEARN)
    assert not at.error
    grids = rule_grids(at)
    for rule, expected in EXPECTED.items():
        np.testing.assert_array_equal(grids[rule], expected, err_msg=rule)
    np.testing.assert_array_equal(grids["rectgrad"], [[0, 0, 0], [6, 0, 0], [0, 0, 3]])  # q = 50


def test_editing_a_cell_changes_the_output() -> None:
    at = open_page(LEARN)
    # z at row 2, column 2 goes from -5 to 4: backprop now passes R = -3 there, guided still blocks it (R < 0)
    at.session_state[state.LEARN_RULES_FORWARD] = {"edited_rows": {1: {"2": 4.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    grids = rule_grids(at)
    assert grids["gradient"][1, 1] == -3.0
    assert grids["guided"][1, 1] == 0.0
    np.testing.assert_array_equal(grids["deconvnet"], EXPECTED["deconvnet"])  # deconvnet ignores z
    at.number_input(key=state.LEARN_RULES_Q).set_value(0.0).run()  # every entry with a*R > min(a*R) passes
    assert rule_grids(at)["rectgrad"][0, 2] == -1.0


def test_apply_rules_gives_the_figure_3_values() -> None:
    out = teaching.relu_rules(teaching.RELU_FORWARD, teaching.RELU_SIGNAL, 50.0)
    for rule, expected in EXPECTED.items():
        np.testing.assert_array_equal(out[rule], expected)


def test_ig_saturation_numbers() -> None:
    at = open_page(LEARN)
    metrics = {m.label: float(m.value) for m in at.metric}
    assert metrics["f(x) − f(0)"] == pytest.approx(1.0)
    assert metrics["IG attribution"] == pytest.approx(1.0, abs=0.02)  # completeness at the default 32 steps
    assert metrics["gradient at x"] == 0.0 and metrics["gradient × input"] == 0.0
    assert any("Completeness holds" in s.value for s in at.success)
    assert any("saturated region" in i.value for i in at.info)
    at.slider(key=state.LEARN_SAT_STEPS).set_value(2).run()  # far too few nodes for the kink
    assert any("IG misses" in w.value for w in at.warning)
    at.slider(key=state.LEARN_SAT_STEPS).set_value(1).run()  # the trapezoid rule needs two nodes: a message
    assert not at.exception
    assert [e.value for e in at.error] == ["riemann_trapezoid needs steps >= 2; got 1"]

    result = teaching.saturation("ramp", 3.0, 64, "riemann_right")
    assert result.gradient == 0.0 and result.gradient_x_input == 0.0
    assert result.ig == pytest.approx(result.f_input - result.f_baseline, abs=0.02)
    assert (result.grad_norms[result.alphas * 3.0 > 1.0] == 0).all()  # zero gradient in the saturated region
    assert teaching.saturation("tanh", 0.5, 32).gradient > 0.5  # not saturated yet


def test_presentation_mode_is_for_the_whole_app_and_survives_page_switches() -> None:
    at = open_page(LEARN)
    assert not any("zoom" in m.value for m in at.markdown)  # presentation CSS: larger fonts, zoomed grids
    at.toggle(key=state.PRESENTATION_TOGGLE).set_value(True).run()
    assert at.session_state[state.PRESENTATION] is True
    assert any("stSidebar" in m.value and "zoom" in m.value for m in at.markdown)
    at.switch_page(EXPLAIN).run()
    assert any("zoom" in m.value for m in at.markdown)  # every page, not only Learn
    assert at.sidebar.toggle(key=state.PRESENTATION_TOGGLE).value is True  # the toggle and the navigation stay
    at.switch_page(LEARN).run()
    assert not at.exception
    assert at.toggle(key=state.PRESENTATION_TOGGLE).value is True
    at.toggle(key=state.PRESENTATION_TOGGLE).set_value(False).run()
    assert at.session_state[state.PRESENTATION] is False
    assert not any("zoom" in m.value for m in at.markdown)


def test_every_registered_method_has_a_learn_entry() -> None:
    names = [m["name"] for m in xai_core.methods.describe()] + list(noise.MODES)
    missing = [n for n in names if n not in teaching.NOTES]
    assert not missing, f"add a Note to xai_core/teaching/notes.py for {missing}"
    for note in teaching.NOTES.values():
        assert note.idea and note.formula


def test_the_learn_page_lists_every_method_and_measure_with_its_paper_from_the_registries() -> None:
    at = open_page(LEARN)
    text = "\n".join(m.value for m in at.main.markdown)
    for row in [*xai_core.methods.describe(), *noise.describe(), *metrics.describe()]:
        assert f"(`{row['name']}`" in text and row["url"] in text, row["name"]
    titles = list(teaching.FAMILY_TITLES.values())
    assert [t.label for t in at.tabs if t.label in titles] == titles  # a card per family
    first = at.selectbox(key=state.learn_family_key("vanilla"))
    assert first.value == "saliency"  # the simplest method first: the plain gradient
    assert [r["name"] for r in method_map.catalog()][:3] == ["saliency", "squared_gradient", "input_x_gradient"]


def test_a_family_card_runs_its_method_on_the_photo() -> None:
    at = open_page(LEARN)
    at.button(key=state.learn_run_key("saliency")).click().run()
    assert not at.exception and not at.error
    assert any(c.startswith("saliency · class ") for image in at.image for c in image.captions)


# --- Axioms & robustness ------------------------------------------------------------------------------------------


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Record the checks the page runs (caches cleared first, so each test computes for real)."""
    st.cache_data.clear()
    seen: list[tuple[str, dict[str, Any]]] = []
    for name in ("check_axioms", "max_sensitivity", "fragility_attack", "sweep"):
        real = getattr(checks, name)

        def counting(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            seen.append((_name, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(checks, name, counting)
    return seen


def test_axioms_for_saliency_show_a_table(calls: list[tuple[str, dict[str, Any]]]) -> None:
    at = open_page(AXIOMS)
    at.button(key=state.AXIOMS_SUBMIT).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [c[0] for c in calls] == ["check_axioms"]
    table = next(d.value for d in at.dataframe if "axiom" in d.value.columns)
    assert list(table["method"]) == ["saliency"] * 6
    assert set(table["axiom"]) == {
        "completeness", "dummy sensitivity", "sensitivity a", "implementation invariance", "linearity",
        "symmetry preservation",
    }  # fmt: skip
    completeness = table.set_index("axiom").loc["completeness"]
    assert completeness["result"].endswith("fail")  # the plain gradient does not add up to f(x) - f(0)
    assert table.set_index("axiom").loc["dummy sensitivity", "result"].endswith("pass")
    invariance = table.set_index("axiom").loc["implementation invariance"]  # float32 noise was 1.3e-2 here
    assert invariance["result"] == "pass" and "float64" in invariance["detail"] and invariance["value"] < 1e-6
    assert len(table) == 6 and any("float64 copy" in c.value for c in at.caption)  # every row, and why


def test_fragility_with_tiny_settings(calls: list[tuple[str, dict[str, Any]]]) -> None:
    at = open_page(AXIOMS)
    at.slider(key=state.FRAG_STEPS).set_value(1)
    at.number_input(key=state.FRAG_TOP_K).set_value(100)
    at.button(key=state.FRAG_SUBMIT).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert calls == [("fragility_attack", {"epsilon": 8 / 255, "steps": 1, "top_k": 100, "seed": 0})]
    labels = [m.label for m in at.metric]
    assert labels == ["top-100 intersection", "rank correlation", "image moved (L∞)", "predicted class kept"]
    assert 0.0 <= float(at.metric[0].value) <= 1.0
    captions = [c for image in at.image for c in image.captions]
    assert captions[-3:] == ["saliency: original", "after the attack", "random ±ε noise (control)"]


def test_sweep_and_max_sensitivity(calls: list[tuple[str, dict[str, Any]]]) -> None:
    at = open_page(AXIOMS)
    at.text_input(key=state.sweep_values_key("integrated_gradients", "steps")).set_value("2, two")
    at.button(key=state.SWEEP_SUBMIT).click().run()
    assert [e.value for e in at.error] == ["integrated_gradients: values of 'steps' must be whole numbers; got 'two'"]
    at.text_input(key=state.sweep_values_key("integrated_gradients", "steps")).set_value("1, 2")
    at.button(key=state.SWEEP_SUBMIT).click().run()
    assert not at.exception and not at.error
    captions = [c for image in at.image for c in image.captions]
    assert [c.split(" ·")[0] for c in captions[-2:]] == ["steps=1", "steps=2"]
    assert captions[-1].endswith("ρ=1.00")  # the reference is the last value

    at.multiselect(key=state.SENS_METHODS).set_value(["saliency"]).run()
    at.slider(key=state.SENS_SAMPLES).set_value(1)
    at.button(key=state.SENS_SUBMIT).click().run()
    assert not at.exception and not at.error
    assert [c[0] for c in calls] == ["sweep", "max_sensitivity"]
    table = next(d.value for d in at.dataframe if "max-sensitivity" in d.value.columns)
    assert list(table["method"]) == ["saliency"] and table["max-sensitivity"][0] > 0
