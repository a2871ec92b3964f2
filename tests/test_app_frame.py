"""AppTest of the frame: settings survive page switches, the address bar restores a view, bad links get a message,
"Send to" carries the explained requests, the server refuses a client's clear-cache message."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.runtime.app_session import AppSession
from streamlit.testing.v1 import AppTest

import xai_core
from pages.components import cache_guard, compute, state, urlstate

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[1] / "app.py")
EXPLAIN, FAITH = "pages/explain.py", "pages/faithfulness.py"


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def key(method: str, field: str, scope: str = "explain") -> str:
    return state.method_key(scope, method, field)


def test_page_switches_keep_methods_and_settings() -> None:
    at = run(AppTest.from_file(APP, default_timeout=300))
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(["integrated_gradients", "rectgrad"]).run()
    at.number_input(key=key("integrated_gradients", "steps")).set_value(12)
    at.selectbox(key=key("rectgrad", "noise.mode")).set_value("smoothgrad")
    at.number_input(key=key("rectgrad", "noise.samples")).set_value(3)
    at.button(key=state.EXPLAIN_SUBMIT).click()  # a form's values are committed by its submit
    run(at)
    at.switch_page(FAITH)
    run(at)
    assert at.multiselect(key=state.FAITH_METHODS).value == ["saliency", "grad_cam"]  # each page its own methods
    at.switch_page(EXPLAIN)
    run(at)
    assert at.multiselect(key=state.EXPLAIN_METHODS).value == ["integrated_gradients", "rectgrad"]
    assert at.number_input(key=key("integrated_gradients", "steps")).value == 12
    assert at.selectbox(key=key("rectgrad", "noise.mode")).value == "smoothgrad"
    assert at.number_input(key=key("rectgrad", "noise.samples")).value == 3


def test_the_address_bar_carries_the_view_and_a_link_restores_it() -> None:
    at = run(AppTest.from_file(APP, default_timeout=300))
    at.selectbox(key=state.SAMPLE_ID).set_value("coffee").run()
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(["integrated_gradients"]).run()
    at.number_input(key=key("integrated_gradients", "steps")).set_value(9)
    at.selectbox(key=key("integrated_gradients", "noise.mode")).set_value("vargrad")
    at.button(key=state.EXPLAIN_SUBMIT).click()
    run(at)
    link = {name: at.query_params[name] for name in ("img", "model", "m")}
    link = {name: value[0] if isinstance(value, list) else value for name, value in link.items()}
    assert link["img"] == "coffee" and link["model"] == "efficientnet_lite0"
    (request,) = urlstate.decode(link["m"])
    assert request.params["steps"] == 9 and request.noise is not None and request.noise.mode == "vargrad"
    assert '"p":{"steps":9}' in link["m"]  # defaults are left out

    fresh = AppTest.from_file(APP, default_timeout=300)  # another browser opening the link
    for name, value in link.items():
        fresh.query_params[name] = value
    run(fresh)
    assert fresh.session_state[state.IMAGE].name == "coffee"
    assert fresh.multiselect(key=state.EXPLAIN_METHODS).value == ["integrated_gradients"]
    assert fresh.number_input(key=key("integrated_gradients", "steps")).value == 9
    assert fresh.selectbox(key=key("integrated_gradients", "noise.mode")).value == "vargrad"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("m", "not json", "not valid JSON"),
        ("m", '[{"m":"nope"}]', "unknown method 'nope'"),
        ("m", '[{"m":"integrated_gradients","p":{"steps":-4}}]', "parameter 'steps' must be an integer in [1, 4096]"),
        ("m", "![x](https://example.com/x.png)" * 300, "at most 4000 are read"),
        ("img", "<img src=https://example.com/y.png>", "<img src=https://example.com/y.png>"),
    ],
)
def test_a_bad_link_gets_a_message_as_plain_text(name: str, value: str, message: str) -> None:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params[name] = value
    run(at)
    assert at.warning and "link" in at.warning[0].value
    assert any(message in t.value for t in at.text), [t.value for t in at.text]  # st.text: never Markdown or HTML
    assert not any(value[:20] in m.value for m in at.markdown)
    assert at.multiselect(key=state.EXPLAIN_METHODS).value == ["saliency", "grad_cam"]  # the page's own defaults


def test_send_to_faithfulness_carries_the_exact_requests() -> None:
    at = run(AppTest.from_file(APP, default_timeout=300))
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(["saliency"]).run()
    at.selectbox(key=key("saliency", "noise.mode")).set_value("smoothgrad")
    at.number_input(key=key("saliency", "noise.samples")).set_value(2)
    at.button(key=state.EXPLAIN_SUBMIT).click()
    run(at)
    explained = at.session_state[state.EXPLAIN_RESULTS].items[0].request
    at.selectbox(key=state.EXPLAIN_SEND).set_value("faith")
    at.button(key=state.EXPLAIN_SEND_BUTTON).click()
    run(at)
    assert at.multiselect(key=state.FAITH_METHODS).value == ["saliency"]
    assert at.selectbox(key=key("saliency", "noise.mode", "faith")).value == "smoothgrad"
    assert at.number_input(key=key("saliency", "noise.samples", "faith")).value == 2
    at.number_input(key=state.FAITH_STEPS).set_value(5)
    at.button(key=state.FAITH_SUBMIT).click()
    run(at)
    faith = at.session_state[state.FAITH_RESULTS]
    (item,) = faith.maps.values()
    assert item.request == explained and item.cached  # the same request: the Explain page's map, from the cache


def test_the_server_refuses_a_clients_clear_cache_message(monkeypatch: pytest.MonkeyPatch) -> None:
    compute.forget_models()
    model = compute.get_model("efficientnet_lite0")
    cleared: list[str] = []
    monkeypatch.setattr(st.cache_data, "clear", lambda: cleared.append("data"))
    monkeypatch.setattr(st.cache_resource, "clear", lambda: cleared.append("resource"))
    cache_guard.install()
    sender = SimpleNamespace(id="client-1", _session_state=SimpleNamespace(clear=lambda: cleared.append("own")))
    AppSession._handle_clear_cache_request(sender)  # type: ignore[arg-type]
    assert cleared == ["own"]  # only the sender's own session state
    assert compute.get_model("efficientnet_lite0") is model  # models are outside Streamlit's caches anyway
    monkeypatch.setenv("XAI_ALLOW_CLEAR_CACHE", "1")  # development: allowed again
    AppSession._handle_clear_cache_request(sender)  # type: ignore[arg-type]
    assert cleared[1:] == ["data", "resource", "own"]


def test_a_request_over_the_fair_use_limits_is_refused_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_LIMITS", "steps=32")
    at = run(AppTest.from_file(APP, default_timeout=300))
    at.multiselect(key=state.EXPLAIN_METHODS).set_value(["integrated_gradients"]).run()
    steps = at.slider(key=key("integrated_gradients", "steps"))  # 1..32: a slider now
    assert steps.max == 32 and steps.value == 32  # the form offers no more
    request = xai_core.Request.create("integrated_gradients", {"steps": 4096})
    with pytest.raises(xai_core.jobs.LimitError, match="limited to 32"):  # a link cannot ask for more either
        xai_core.jobs.Limits.parse("steps=32").check(request)
