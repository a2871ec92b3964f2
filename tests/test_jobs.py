"""Cancellation, fair-use limits and the scheduler (xai_core.jobs) on toy models and fake jobs: no Streamlit."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from toys import images, relu_cnn

import xai_core
from xai_core import jobs


def _hooks_left(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in module.modules())


@pytest.mark.parametrize(
    "request_",
    [
        xai_core.Request.create("integrated_gradients", {"steps": 32}),
        xai_core.Request.create("grad_cam", noise=xai_core.Noise(samples=6), layer="7"),  # hooks per noise chunk
        xai_core.Request.create("guided_backprop", noise=xai_core.Noise("vargrad", samples=6)),  # a function mode
    ],
    ids=lambda r: r.title,
)
def test_a_progress_callback_that_raises_cancelled_stops_attribute_cleanly(request_: xai_core.Request) -> None:
    model, x = relu_cnn(), images()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen: list[float] = []

    def stop_at_the_second_report(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) == 2:
            raise xai_core.Cancelled("stopped by the test")

    with pytest.raises(xai_core.Cancelled, match="stopped by the test"):
        xai_core.attribute(model, x, request_, target=0, chunk_size=2, progress=stop_at_the_second_report)
    assert len(seen) == 2 and seen[1] < 1.0  # stopped mid-way, not at the end
    assert _hooks_left(model) == 0
    assert not torch.overrides._get_current_function_mode_stack()  # no backward rule left active
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    again = xai_core.attribute(model, x, request_, target=0, chunk_size=2)  # the model lock was released
    assert torch.isfinite(again.attributions).all()


def test_smoothgrad_reports_between_the_inner_methods_chunks() -> None:
    """Under noise the inner method's own chunks report too, so a long inner method can be stopped early."""
    request = xai_core.Request.create("integrated_gradients", {"steps": 16}, noise=xai_core.Noise(samples=2))
    seen: list[float] = []
    xai_core.attribute(relu_cnn(), images()[:1], request, target=0, chunk_size=4, progress=seen.append)
    assert len(seen) > 2 * 2 and seen == sorted(seen) and seen[-1] == 1.0


def test_passes_follow_the_request() -> None:
    assert jobs.passes(xai_core.Request.create("saliency")) == 1
    assert jobs.passes(xai_core.Request.create("integrated_gradients", {"steps": 64})) == 65
    blur = xai_core.Request.create("blur_ig", {"steps": 4096}, noise=xai_core.Noise(samples=10_000))
    assert jobs.passes(blur) == 4096 * 10_000  # the months-long request


def test_limits_parse_check_and_bound() -> None:
    assert not jobs.Limits.parse("off").active
    shared = jobs.Limits.parse("shared")
    assert shared.steps == jobs.SHARED["steps"] and shared.active
    custom = jobs.Limits.parse("steps=100, passes=500")
    assert custom.steps == 100 and custom.passes == 500 and custom.samples == jobs.SHARED["samples"]
    for bad in ("steps", "nope=3", "steps=many", "steps=0"):
        with pytest.raises(xai_core.ParameterError, match="XAI_LIMITS"):
            jobs.Limits.parse(bad)
    with pytest.raises(jobs.LimitError, match="'steps' is limited to 100 on this server; got 4096"):
        custom.check(xai_core.Request.create("blur_ig", {"steps": 4096}))
    with pytest.raises(jobs.LimitError, match="noise samples is limited to 64"):
        shared.check(xai_core.Request.create("saliency", noise=xai_core.Noise(samples=10_000)))
    with pytest.raises(jobs.LimitError, match="passes per image"):
        custom.check(xai_core.Request.create("integrated_gradients", {"steps": 100}, noise=xai_core.Noise(samples=6)))
    custom.check(xai_core.Request.create("integrated_gradients", {"steps": 100}))  # 101 passes: allowed
    with pytest.raises(jobs.LimitError, match="methods per run are limited to 6"):
        shared.check_run(7)
    spec = {"name": "steps", "type": "int", "default": 200, "low": 1, "high": 4096}
    assert custom.bound(spec) == {**spec, "high": 100, "default": 100}
    assert jobs.Limits().bound(spec) == spec


def _worker(scheduler: jobs.Scheduler, owner: str, steps: int, step_seconds: float, log: list, **kwargs) -> None:
    try:
        with scheduler.job(owner, **kwargs) as job:
            for _ in range(steps):
                time.sleep(step_seconds)  # a chunk of work on the device
                job.checkpoint()
        log.append((owner, "done", time.perf_counter()))
    except xai_core.Cancelled as exc:
        log.append((owner, f"cancelled: {exc}", time.perf_counter()))


def test_a_light_job_overtakes_a_heavy_one_at_its_next_chunk() -> None:
    scheduler, log = jobs.Scheduler(slots=4, poll_seconds=0.01), []
    heavy = threading.Thread(target=_worker, args=(scheduler, "heavy", 60, 0.02, log))
    heavy.start()
    time.sleep(0.2)  # the heavy job holds the device
    start = time.perf_counter()
    _worker(scheduler, "light", 3, 0.02, log)
    light_seconds = time.perf_counter() - start
    heavy.join()
    assert [entry[:2] for entry in log] == [("light", "done"), ("heavy", "done")]
    assert light_seconds < 0.5  # 3 chunks of 20 ms plus at most one of the heavy job's, not its 1.2 s


def test_the_line_position_is_reported_and_a_session_has_one_run_at_a_time() -> None:
    scheduler, log, positions = jobs.Scheduler(slots=1, poll_seconds=0.01), [], []
    first = threading.Thread(target=_worker, args=(scheduler, "a", 40, 0.01, log))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=_worker, args=(scheduler, "b", 1, 0.0, log), kwargs={"on_wait": positions.append})
    second.start()
    time.sleep(0.1)
    assert positions and positions[0] == 1 and scheduler.status() == {"running": 1, "waiting": 1}
    _worker(scheduler, "a", 1, 0.0, log, runs=1)  # the same session starts again: its old run is cancelled
    first.join()
    second.join()
    outcomes = {(owner, what.split(":")[0]) for owner, what, _ in log}
    assert ("a", "cancelled") in outcomes and ("a", "done") in outcomes and ("b", "done") in outcomes


def test_a_job_whose_session_ended_is_cancelled() -> None:
    scheduler, log, alive = jobs.Scheduler(slots=2, poll_seconds=0.01), [], [True]
    worker = threading.Thread(
        target=_worker, args=(scheduler, "gone", 500, 0.01, log), kwargs={"alive": lambda: alive[0]}
    )
    worker.start()
    time.sleep(0.05)
    alive[0] = False  # the browser tab was closed
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert log[0][:2] == ("gone", "cancelled: the browser session ended")
    assert scheduler.status() == {"running": 0, "waiting": 0}


def test_each_job_computes_on_its_own_replica_and_replicas_are_reused() -> None:
    scheduler, model = jobs.Scheduler(slots=2), relu_cnn()
    with scheduler.job("a", model=model) as first:
        assert first.model is not model and isinstance(first.model, torch.nn.Module)
        replica = first.model
    with scheduler.job("b", model=model) as second:
        assert second.model is replica  # given back, then reused: no copy per request
