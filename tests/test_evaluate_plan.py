"""The pure parts of dataset evaluation: plan, shards, samples, seeds, spec differences, the sink's atomic parts and
deduplication, and the CLI's refusal of absurd settings (no model is loaded for any of these)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from xai_core.cli import main
from xai_core.evaluation import plan, sink
from xai_core.evaluation.inputs import ImageRef
from xai_core.evaluation.spec import RunSpec, SpecMismatch, claim, derive_seed, next_free

IMAGES = [ImageRef(f"c{i % 3}/img{i:03d}.jpg", f"/data/c{i % 3}/img{i:03d}.jpg") for i in range(40)]
METHODS = [plan.MethodRun("saliency", {"method": "saliency"}, "k1"), plan.MethodRun("ig", {"method": "ig"}, "k2")]
METRICS = [plan.MetricRun("insertion", {"steps": 4}, "h1"), plan.MetricRun("deletion", {"steps": 4}, "h2")]


def items(tasks: list[plan.Task]) -> list[tuple[str, str, str]]:
    return [(ref.id, t.method, m) for t in tasks for ref in t.images for m in t.metrics]


def test_plan_covers_every_item_once_in_a_fixed_order() -> None:
    tasks = plan.plan(IMAGES, METHODS, METRICS, task_size=7)
    got = items(tasks)
    assert len(got) == len(set(got)) == 40 * 2 * 2
    assert all(len(t.images) <= 7 for t in tasks)
    assert tasks == plan.plan(list(reversed(IMAGES)), METHODS, METRICS, task_size=7)  # input order does not matter
    assert [t.key for t in tasks] == [t.key for t in plan.plan(IMAGES, METHODS, METRICS, task_size=7)]


def test_done_items_are_left_out_and_partial_images_get_only_what_they_miss() -> None:
    done = {plan.item_key(r.id, METHODS[0], m) for r in IMAGES[:10] for m in METRICS}
    done.add(plan.item_key(IMAGES[10].id, METHODS[0], METRICS[0]))
    tasks = plan.plan(IMAGES, METHODS, METRICS, done, task_size=100)
    got = set(items(tasks))
    assert len(got) == 40 * 4 - 21
    assert {t.metrics for t in tasks if IMAGES[10] in t.images and t.method == "saliency"} == {("deletion",)}
    with pytest.raises(ValueError, match="task_size"):
        plan.plan(IMAGES, METHODS, METRICS, task_size=0)


def test_shards_are_disjoint_and_complete() -> None:
    shards = [plan.shard(IMAGES, k, 3) for k in range(3)]
    ids = [r.id for s in shards for r in s]
    assert sorted(ids) == sorted(r.id for r in IMAGES) and len(ids) == len(set(ids))
    assert all(shards)  # 40 ids over 3 shards: each gets some
    assert plan.shard([*IMAGES, ImageRef("new.jpg", "/new.jpg")], 1, 3)[: len(shards[1])] == shards[1][: len(shards[1])]
    assert plan.parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "1", "-1/3", "a/b", "0/0"):
        with pytest.raises(ValueError, match="K/N"):
            plan.parse_shard(bad)


def test_samples_and_seeds_come_from_ids_not_order() -> None:
    chosen = plan.sample(IMAGES, 5, seed=0)
    assert len(chosen) == 5 and chosen == plan.sample(list(reversed(IMAGES)), 5, seed=0)
    assert chosen != plan.sample(IMAGES, 5, seed=1)
    assert derive_seed(0, "a.jpg") == derive_seed(0, "a.jpg") != derive_seed(0, "b.jpg")
    assert 0 <= derive_seed(2**31 - 1, "x") < 2**31


def spec(**changes: object) -> RunSpec:
    base = RunSpec(
        model={"name": "m", "checksum": "abc"},
        target="predicted",
        requests={"ig": {"request": {"method": "integrated_gradients", "params": {"steps": 20}}, "key": "k"}},
        metrics={"insertion": {"settings": {"steps": 20, "substrate": "blur"}, "hash": "h"}},
        version="0.1.0",
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_spec_refusal_lists_every_difference_and_additions_are_merged(tmp_path: Path) -> None:
    claim(tmp_path, spec())
    other = spec(
        metrics={"insertion": {"settings": {"steps": 5, "substrate": "black"}, "hash": "x"}},
        requests={"ig": {"request": {"method": "integrated_gradients", "params": {"steps": 64}}, "key": "q"}},
        version="0.2.0",
    )
    with pytest.raises(SpecMismatch) as refused:
        claim(tmp_path, other)
    text = str(refused.value)
    for line in ("version: '0.1.0' in the folder, '0.2.0' now", "metric insertion: steps 20 in the folder, 5 now",
                 "metric insertion: substrate 'blur' in the folder, 'black' now",
                 "method ig: params.steps 20 in the folder, 64 now"):  # fmt: skip
        assert line in text
    more = spec(metrics={**spec().metrics, "deletion": {"settings": {"steps": 20}, "hash": "d"}})
    merged = claim(tmp_path, more)
    assert set(merged.metrics) == {"insertion", "deletion"}
    assert next_free(tmp_path) == tmp_path.with_name(f"{tmp_path.name}-2")


def rows(n: int, value: float = 1.0, status: str = "ok") -> list[dict]:
    return [sink.row(image=f"i{i}", method="m", request_key="k", metric="insertion", settings_hash="h", value=value,
                     status=status, curve=[0.0, 0.5, value], curve_x=[0.0, 0.5, 1.0]) for i in range(n)]  # fmt: skip


@pytest.mark.parametrize("storage", ["parquet", "csv"])
def test_parts_are_atomic_deduplicated_on_read_and_compacted(tmp_path: Path, storage: str) -> None:
    writer = sink.ResultSink(tmp_path, storage, flush_seconds=0.0)
    writer.add(rows(3, status="error"))
    writer.add(rows(2, value=2.0))  # i0, i1 retried: the later rows win
    (tmp_path / "rows" / ".part-00000009-x.tmp").write_text("half a file from a killed writer")
    assert len(sink.read_rows(tmp_path, raw=True)) == 5
    read = sink.read_rows(tmp_path).set_index("image")
    assert len(read) == 3 and read.loc["i0", "value"] == 2.0 and read.loc["i2", "status"] == "error"
    assert list(read.loc["i1", "curve"]) == [0.0, 0.5, 2.0]
    assert sink.done_items(tmp_path, retry_errors=True) == {("i0", "m", "k", "insertion", "h"),
                                                            ("i1", "m", "k", "insertion", "h")}  # fmt: skip
    writer.close()
    parts = list((tmp_path / "rows").glob("part-*"))
    assert len(parts) == 1 and parts[0].suffix == f".{storage}"
    again = sink.read_rows(tmp_path)
    columns = ["image", "value", "status"]
    expected = read.reset_index().sort_values("image").reset_index(drop=True)[columns]
    pd.testing.assert_frame_equal(again.sort_values("image").reset_index(drop=True)[columns], expected)
    reopened = sink.ResultSink(tmp_path, storage)  # a new writer removes a killed writer's temporary files
    assert not list((tmp_path / "rows").glob(".part-*")) and reopened.written == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "100000000"], "'steps' must be an integer in [1, 10000]; got 100000000"),
        (["--param", "integrated_gradients.steps=100000000"], "'steps' must be an integer in [1, "),
        (["--param", "saliency.steps=3"], "saliency: unknown parameter 'steps'"),
        (["--set", "substrate=lava"], "'substrate' must be one of"),
        (["--metrics", "iou"], "unknown metric 'iou'"),
        (["--batch-size", "-1"], "--batch-size must be in [0, 4096]; got -1"),
        (["--workers", "2"], "--address and --workers are options of --engine ray"),
        (["--engine", "ray", "--workers", "0"], "--workers must be in [1, 4096]; got 0"),
        (["--shard", "3/3"], "--shard must be K/N"),
        (["--randomization", "cascading", "--randomization-measures", "cosine"], "'measures' must be names"),
    ],
)
def test_the_cli_refuses_absurd_settings_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    (tmp_path / "img").mkdir()
    argv = ["evaluate", "--images", str(tmp_path / "img"), "--methods", "saliency,integrated_gradients",
            "--out", str(tmp_path / "out"), *extra]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "spec.json").exists()


def test_the_cli_needs_one_image_source_and_annotations_for_boxes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--methods", "saliency", "--out", str(tmp_path / "o")]) == 2
    assert "give exactly one of --images, --list, --samples" in capsys.readouterr().err
    assert main(["evaluate", "--images", str(tmp_path / "missing"), "--methods", "saliency", "--out", "o"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "img").mkdir()
    from evaluation_data import picture

    picture(0).save(tmp_path / "img" / "a.png")
    argv = ["evaluate", "--images", str(tmp_path / "img"), "--methods", "saliency", "--metrics", "pointing_game",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    assert "metric pointing_game needs boxes (--annotations)" in capsys.readouterr().err
