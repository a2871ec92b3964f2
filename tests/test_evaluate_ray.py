"""The Ray engine: row for row what the local engine writes, on a local Ray instance and on a two-node cluster.

Marked ``ray`` (``pytest -m ray`` selects them, ``-m "not ray"`` leaves them out); each test shuts Ray (and its
cluster) down, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_data import Toy, toy_dataset, toy_evaluation

from xai_core.evaluation import read_rows, run
from xai_core.evaluation.sink import KEY

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]
COMPARED = [*KEY, "value", "status", "target", "higher_is_better"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Toy:
    return toy_dataset(tmp_path_factory.mktemp("toy"), 4)


@pytest.fixture(scope="module")
def local_rows(toy: Toy, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("local") / "r"
    run(toy_evaluation(toy, out, task_size=2))
    return read_rows(out)


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = (f.sort_values(list(KEY)).reset_index(drop=True)[COMPARED] for f in (a, b))
    pd.testing.assert_frame_equal(a.drop(columns="value"), b.drop(columns="value"))
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-6, atol=1e-9)


@pytest.fixture
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_rows_equal_local_rows(toy: Toy, local_rows: pd.DataFrame, tmp_path: Path, local_ray: None) -> None:
    from xai_core.evaluation.engine_ray import RayOptions

    evaluation = toy_evaluation(toy, tmp_path / "r", task_size=2, engine="ray")
    report = run(replace(evaluation, ray=RayOptions(workers=2, cpus_per_worker=1)))
    assert report.computed == 4 * 2 * 2
    rows = read_rows(tmp_path / "r")
    assert len(rows) == 16 and rows["worker"].nunique() >= 1
    same_rows(rows, local_rows)


def test_a_two_node_cluster_shares_the_work(toy: Toy, local_rows: pd.DataFrame, tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    from xai_core.evaluation.engine_ray import RayOptions

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        evaluation = toy_evaluation(toy, tmp_path / "r", task_size=1, engine="ray")
        run(replace(evaluation, ray=RayOptions(workers=2, cpus_per_worker=1)))
        rows = read_rows(tmp_path / "r")
        nodes = {worker.split(":")[0] for worker in rows["worker"]}
        assert len(nodes) == 2  # one actor per one-CPU node: both nodes computed rows
        same_rows(rows, local_rows)
    finally:
        ray.shutdown()
        cluster.shutdown()
