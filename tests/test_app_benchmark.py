"""AppTest of the Benchmark page: a folder made by the engine opened, its table, plots and one image with its maps;
a small run over a bundled sample with a progress bar; user strings (paths, labels) shown as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from evaluation_data import results_folder
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAYLOAD = "![x](http://example.invalid/leak.png) **bold**"


def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/benchmark.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return results_folder(tmp_path_factory.mktemp("bench"), PAYLOAD)


def test_a_results_folder_opens_with_table_plots_and_an_image(folder: Path) -> None:
    at = page()
    at.radio(key="bench.source").set_value("Open a results folder").run()
    at.text_input(key="bench.folder").set_value(str(folder)).run()
    at.button(key="bench.open").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert any(str(folder) in t.value for t in at.text)  # the path, as text
    assert not any("example.invalid" in m.value for m in at.markdown)  # never as Markdown
    assert len(at.dataframe) == 2 and len(at.get("plotly_chart")) >= 2
    table = at.dataframe[0].value
    assert {"saliency", "grad_cam"} <= set(table.index) and any("insertion" in c for c in table.columns)
    at.session_state["bench.rows"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("image")) == 3  # the crop and two maps
    assert any(t.value == "0/img00.png" for t in at.text)


def test_a_folder_without_a_spec_is_refused_with_a_message(tmp_path: Path) -> None:
    at = page()
    at.radio(key="bench.source").set_value("Open a results folder").run()
    at.text_input(key="bench.folder").set_value(str(tmp_path)).run()
    at.button(key="bench.open").click().run()
    assert "not a results folder" in at.error[0].value and not at.exception


def test_a_small_run_on_a_bundled_sample() -> None:
    at = page()
    at.multiselect(key="bench.methods").set_value(["saliency"])
    at.multiselect(key="bench.metrics").set_value(["deletion"])
    at.number_input(key="bench.steps").set_value(2)
    at.number_input(key="bench.n").set_value(1)
    at.button(key="bench.run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "deletion ↓" in " ".join(at.dataframe[0].value.columns)
