"""Long computations on a shared server: cancellation, fair-use limits, a queue and fair time-sharing of the device.

One process serves many browser sessions with one model. ``attribute`` holds the model's lock while it runs
(hooks), so without care one heavy request (Blur IG at 4096 steps under 10,000 SmoothGrad samples) makes every
other session's map wait for it. Here:

* ``Cancelled``: raised by a progress callback to stop a computation; ``attribute`` lets it through and every
  hook is removed on the way out (``finally``), so the model is left as it was.
* ``passes(request)``: forward+backward passes per image a request implies (``Method.passes`` x noise samples).
* ``Limits``: what an anonymous session may ask for (``XAI_LIMITS``, see ``settings``): steps, samples, methods
  per run, runs per session at once, passes per request, jobs computing at once.
* ``Scheduler``: at most ``slots`` jobs are admitted at once (the rest wait in line and are told their position);
  each admitted job computes on its own replica of the model (a deep copy, so locks never chain), and the device
  is time-shared at every progress report: the job that has used the least device time so far goes next
  (least-attained-service), so a light request overtakes a heavy one at the heavy one's next chunk. A job is
  cancelled when its owner starts more than ``runs`` jobs, when its ``alive`` check fails (the browser session
  ended) or when ``cancel`` is called.
* ``PassTimer``: measured seconds per pass per model, for the app's time estimates.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from xai_core import registry
from xai_core.params import ParameterError
from xai_core.request import Request

log = logging.getLogger(__name__)

__all__ = [
    "SHARED",
    "Cancelled",
    "Job",
    "LimitError",
    "Limits",
    "PassTimer",
    "Scheduler",
    "passes",
    "probe_seconds_per_pass",
    "scheduler",
]


class Cancelled(Exception):
    """A computation was stopped on request; raised from a progress callback and let through by ``attribute``."""


class LimitError(ParameterError):
    """A request exceeds a fair-use limit; the message names the setting, the limit and the value."""


def passes(request: Request) -> int:
    """Forward+backward passes per image that ``request`` implies: the method's (``Method.passes``) times the
    noise samples (SmoothGrad runs the method once per noisy copy)."""
    method = registry.get(request.method).passes(request.params)
    return int(method) * (request.noise.samples if request.noise is not None else 1)


def _is_steps(name: str) -> bool:
    return name == "steps" or name.endswith("_steps") or name == "max_iter"


def _is_samples(name: str) -> bool:
    return name == "samples"


# XAI_LIMITS=shared: a 2-core CPU computes about 20 Lite0 passes a second, so 20,000 passes is a quarter of an hour
# of one core's time; 256 steps and 64 samples cover every method's default and the papers' settings.
SHARED = {"steps": 256, "samples": 64, "methods": 6, "runs": 1, "passes": 20_000, "queue": 4}


@dataclass(frozen=True)
class Limits:
    """Fair-use limits of an anonymous session; None means unlimited.

    Attributes:
        steps: any path/attack step parameter (``steps``, ``*_steps``, ``max_iter``).
        samples: method ``samples`` and the noise setting's samples.
        methods: methods per run (one press of Compute).
        runs: jobs of one session computing or queued at once; a newer one cancels the oldest.
        passes: forward+backward passes per image of one request (``passes``).
        queue: jobs computing at once in the whole server (the rest wait in line).
    """

    steps: int | None = None
    samples: int | None = None
    methods: int | None = None
    runs: int = 1
    passes: int | None = None
    queue: int = 4

    @property
    def active(self) -> bool:
        """Whether any per-request limit applies (``off`` has none)."""
        return any(v is not None for v in (self.steps, self.samples, self.methods, self.passes))

    @classmethod
    def parse(cls, text: str) -> Limits:
        """``off``, ``shared`` (the preset) or ``name=value,...`` pairs over the preset; a ``ParameterError``
        naming the bad entry otherwise."""
        text = text.strip().lower()
        if text in ("", "off", "none"):
            return cls()
        preset = dict(SHARED)
        if text == "shared":
            return cls(**preset)
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in preset:
                raise ParameterError(f"XAI_LIMITS: entries are name=value with names {sorted(preset)}; got {part!r}")
            try:
                number = int(value)
            except ValueError:
                raise ParameterError(f"XAI_LIMITS: {name} must be a whole number >= 1; got {value.strip()!r}") from None
            if number < 1:
                raise ParameterError(f"XAI_LIMITS: {name} must be a whole number >= 1; got {number}")
            preset[name] = number
        return cls(**preset)

    def bound(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A parameter's schema entry with its upper bound lowered to the limit (what the form offers)."""
        cap = self.steps if _is_steps(spec["name"]) else self.samples if _is_samples(spec["name"]) else None
        if cap is None or spec["type"] != "int":
            return dict(spec)
        high = cap if spec.get("high") is None else min(int(spec["high"]), cap)
        low = spec.get("low")
        high = max(high, low) if low is not None else high
        return {**spec, "high": high, "default": min(int(spec["default"]), high)}

    def check(self, request: Request) -> None:
        """Raise ``LimitError`` when ``request`` asks for more than these limits allow."""

        def refuse(what: str, limit: int, value: int) -> LimitError:
            return LimitError(f"{request.method}: {what} is limited to {limit} on this server; got {value}")

        for name, value in request.params.items():
            if isinstance(value, bool) or not isinstance(value, int):
                continue
            if self.steps is not None and _is_steps(name) and value > self.steps:
                raise refuse(f"'{name}'", self.steps, value)
            if self.samples is not None and _is_samples(name) and value > self.samples:
                raise refuse(f"'{name}'", self.samples, value)
        if self.samples is not None and request.noise is not None and request.noise.samples > self.samples:
            raise refuse("the noise samples", self.samples, request.noise.samples)
        cost = passes(request)
        if self.passes is not None and cost > self.passes:
            raise refuse("the passes per image (steps x samples x ...)", self.passes, cost)

    def check_run(self, count: int) -> None:
        """Raise ``LimitError`` when one run asks for more methods than allowed."""
        if self.methods is not None and count > self.methods:
            raise LimitError(f"methods per run are limited to {self.methods} on this server; got {count}")


@dataclass(eq=False)
class Job:
    """One admitted or waiting computation. Use ``progress(callback)`` as the engine's progress callback."""

    owner: str
    scheduler: Scheduler
    alive: Callable[[], bool] = lambda: True
    model: Any = None  # the replica this job computes on, when it asked for one
    number: int = 0
    used: float = 0.0  # device seconds held so far
    cancelled: threading.Event = field(default_factory=threading.Event)
    reason: str = ""

    def cancel(self, reason: str = "stopped") -> None:
        self.reason = reason
        self.cancelled.set()
        self.scheduler.wake()

    def check(self) -> None:
        """Raise ``Cancelled`` when the job was cancelled or its session ended."""
        if not self.cancelled.is_set() and not self.alive():
            self.cancel("the browser session ended")
        if self.cancelled.is_set():
            raise Cancelled(self.reason or "stopped")

    def checkpoint(self) -> None:
        """Between two chunks: stop if cancelled, and let a job with less device time go first."""
        self.check()
        self.scheduler.yield_device(self)
        self.check()

    def progress(self, callback: Callable[[float], None] | None = None) -> Callable[[float], None]:
        """The engine's progress callback for this job: ``checkpoint``, then ``callback(fraction)``."""

        def report(fraction: float) -> None:
            self.checkpoint()
            if callback is not None:
                callback(fraction)

        return report


class Scheduler:
    """Admission (``slots`` at once, a FIFO line after), replicas and least-attained-service device sharing."""

    def __init__(self, slots: int = 4, poll_seconds: float = 0.5) -> None:
        self.slots = slots
        self.poll_seconds = poll_seconds
        self._cond = threading.Condition()
        self._numbers = itertools.count(1)
        self._running: list[Job] = []
        self._waiting: list[Job] = []  # admission line, FIFO
        self._holder: Job | None = None  # the job on the device
        self._device_queue: list[Job] = []  # admitted jobs waiting for the device
        self._held_since = 0.0
        self._replicas: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def position(self, job: Job) -> int:
        """1-based place of ``job`` in the admission line (0: admitted)."""
        with self._cond:
            return self._waiting.index(job) + 1 if job in self._waiting else 0

    def status(self) -> dict[str, int]:
        with self._cond:
            return {"running": len(self._running), "waiting": len(self._waiting)}

    def _replica(self, model: Any) -> Any:
        key = getattr(model, "module", model)
        free = self._replicas.setdefault(key, [])
        if free:
            return free.pop()
        if hasattr(model, "module"):  # a load_model wrapper: copy the network, share labels and settings
            return dataclasses.replace(model, module=copy.deepcopy(model.module))
        return copy.deepcopy(model)

    def _give_back(self, model: Any, replica: Any) -> None:
        key = getattr(model, "module", model)
        self._replicas.setdefault(key, []).append(replica)

    @contextmanager
    def job(
        self,
        owner: str,
        *,
        model: Any = None,
        alive: Callable[[], bool] = lambda: True,
        runs: int | None = None,
        on_wait: Callable[[int], None] | None = None,
    ) -> Iterator[Job]:
        """Admit a job of ``owner`` (waiting in line first if ``slots`` are taken), with its own replica of
        ``model`` when given, holding the device; release everything on exit, also on ``Cancelled``.

        Args:
            owner: who the job is for (a browser session id); with ``runs``, that owner's oldest jobs are cancelled
                so it has at most ``runs`` at once.
            model: the shared model; the job gets a replica in ``job.model``.
            alive: checked at every checkpoint; False cancels the job (its session ended).
            runs: the owner's jobs allowed at once (None: no limit).
            on_wait: called with the line position about every ``poll_seconds`` while waiting (it may raise).
        """
        job = Job(owner, self, alive, number=next(self._numbers))
        with self._cond:
            mine = [j for j in (*self._running, *self._waiting) if j.owner == owner]
            if runs is not None:
                for old in mine[: max(0, len(mine) - runs + 1)]:
                    old.cancel("a newer run of the same session replaced it")
            self._waiting.append(job)
        try:
            self._admit(job, on_wait)
            if model is not None:
                with self._cond:
                    job.model = self._replica(model)
            self._acquire_device(job)
            yield job
        finally:
            with self._cond:
                if job in self._waiting:
                    self._waiting.remove(job)
                if job in self._device_queue:
                    self._device_queue.remove(job)
                if job in self._running:
                    self._running.remove(job)
                if self._holder is job:
                    self._release_device_locked(job)
                if job.model is not None and model is not None:
                    self._give_back(model, job.model)
                self._cond.notify_all()
            log.debug("job %d of %s done (%.2f s on the device, %s)", job.number, owner, job.used, job.reason or "ok")

    def _admit(self, job: Job, on_wait: Callable[[int], None] | None) -> None:
        while True:
            with self._cond:
                if self._waiting and self._waiting[0] is job and len(self._running) < self.slots:
                    self._waiting.pop(0)
                    self._running.append(job)
                    self._cond.notify_all()
                    return
                position = self._waiting.index(job) + 1
                if not job.cancelled.is_set():
                    self._cond.wait(self.poll_seconds)
            job.check()
            if on_wait is not None:
                on_wait(position)

    def _acquire_device(self, job: Job) -> None:
        with self._cond:
            self._device_queue.append(job)
            while True:
                first = min(self._device_queue, key=lambda j: (j.used, j.number))
                if self._holder is None and first is job:
                    self._device_queue.remove(job)
                    self._holder, self._held_since = job, time.perf_counter()
                    return
                if job.cancelled.is_set():
                    self._device_queue.remove(job)
                    raise Cancelled(job.reason or "stopped")
                self._cond.wait(self.poll_seconds)
                if not job.alive():
                    job.cancelled.set()
                    job.reason = "the browser session ended"

    def _release_device_locked(self, job: Job) -> None:
        job.used += time.perf_counter() - self._held_since
        self._holder = None
        self._cond.notify_all()

    def yield_device(self, job: Job) -> None:
        """Let a waiting job with less device time use the device; come back when it is this job's turn."""
        with self._cond:
            if self._holder is not job:
                return
            spent = job.used + (time.perf_counter() - self._held_since)
            if not any(other.used < spent for other in self._device_queue):
                return
            self._release_device_locked(job)
        self._acquire_device(job)


def probe_seconds_per_pass(model: Any, inputs: Any, repeats: int = 2) -> float:
    """Seconds of one forward+backward pass of one image: the best of ``repeats`` timed passes of ``inputs``
    ``[B, C, H, W]`` divided by B (the first pass, which warms caches up, is not counted)."""
    import torch

    module = getattr(model, "module", model)
    x = inputs.detach().to(next(module.parameters()).device)
    best = float("inf")
    for attempt in range(repeats + 1):
        leaf = x.clone().requires_grad_(True)
        start = time.perf_counter()
        scores = module(leaf)
        torch.autograd.grad(scores.max(dim=1).values.sum(), leaf)
        if attempt:
            best = min(best, time.perf_counter() - start)
    return best / max(1, x.shape[0])


class PassTimer:
    """Seconds per forward+backward pass per model, learnt from finished maps (an exponential moving average)."""

    def __init__(self, weight: float = 0.3) -> None:
        self.weight = weight
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, model_key: str, passes: int, seconds: float) -> None:
        if passes < 1 or seconds <= 0:
            return
        per = seconds / passes
        with self._lock:
            old = self._seconds.get(model_key)
            self._seconds[model_key] = per if old is None else (1 - self.weight) * old + self.weight * per

    def per_pass(self, model_key: str) -> float | None:
        with self._lock:
            return self._seconds.get(model_key)

    def seed(self, model_key: str, seconds_per_pass: float) -> None:
        """A first value (a probe's) for a model nothing was measured for yet."""
        with self._lock:
            self._seconds.setdefault(model_key, seconds_per_pass)

    def estimate(self, model_key: str, count: int) -> float | None:
        """Expected seconds for ``count`` passes, or None before anything was measured for the model."""
        per = self.per_pass(model_key)
        return None if per is None else per * count


_SCHEDULER: Scheduler | None = None
_SCHEDULER_GUARD = threading.Lock()


def scheduler(slots: int | None = None) -> Scheduler:
    """The process's scheduler (created on first use; ``slots`` resizes it)."""
    global _SCHEDULER
    with _SCHEDULER_GUARD:
        if _SCHEDULER is None:
            _SCHEDULER = Scheduler(slots or 4)
        elif slots is not None:
            _SCHEDULER.slots = slots
        return _SCHEDULER
