"""The one place that knows every metric: ``@register`` adds a class; ``get``, ``available``, ``describe`` look up;
``evaluate`` and ``evaluate_many`` validate settings with the schema and compute.

    from xai_core import metrics
    metrics.available("localization")                       # ['pointing_game', 'energy_pointing_game', ...]
    metrics.get("insertion").params                         # the settings schema (IntParam, ChoiceParam, ...)
    metrics.evaluate("insertion", model=m, inputs=x, maps=result, steps=50)
    metrics.evaluate_many(["insertion", "deletion", "abpc"], model=m, inputs=x, maps=result, steps=50)

``evaluate_many`` computes the members of a suite together (the three perturbation curves of insertion, deletion,
AOPC and ABPC are scored once) and gives each metric the settings it declares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from torch import Tensor

from xai_core.metrics.base import (
    FAMILIES,
    NEEDS,
    Explainer,
    Metric,
    MetricContext,
    MetricNotApplicable,
    MetricResult,
    ModelFactory,
    Progress,
    scaled_progress,
)
from xai_core.params import Param, ParameterError, validate

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

M = TypeVar("M", bound=type[Metric])
F = TypeVar("F", bound=Callable[..., Any])
Suite = Callable[[MetricContext, Sequence[str], Mapping[str, Any]], dict[str, "MetricResult | MetricNotApplicable"]]

_METRICS: dict[str, type[Metric]] = {}
_SUITES: dict[str, Suite] = {}
_RESERVED = frozenset((*NEEDS, "target", "chunk_size", "progress", "name", "names", "overrides"))


def register(cls: M) -> M:
    """Class decorator: add a metric to the registry under ``cls.name``."""
    name = cls.name
    if not name or name in _METRICS:
        raise ValueError(f"metric name {name!r} is empty or registered twice")
    if cls.family not in FAMILIES:
        raise ValueError(f"metric {name!r}: family must be one of {FAMILIES}; got {cls.family!r}")
    unknown = [need for need in cls.needs if need not in NEEDS]
    if unknown or not cls.needs:
        raise ValueError(f"metric {name!r}: needs must be a non-empty subset of {NEEDS}; got {cls.needs!r}")
    clash = sorted({p.name for p in cls.params} & _RESERVED)
    if clash:
        raise ValueError(f"metric {name!r}: setting names {clash} are reserved for the evaluation context")
    _METRICS[name] = cls
    return cls


def register_suite(name: str) -> Callable[[Suite], Suite]:
    """Decorator: ``suite(ctx, names, settings) -> {name: result or MetricNotApplicable}`` computes any subset of
    the metrics whose ``suite`` is ``name`` in one pass; ``settings`` is the union of their resolved settings."""

    def add(fn: Suite) -> Suite:
        if name in _SUITES:
            raise ValueError(f"suite {name!r} registered twice")
        _SUITES[name] = fn
        return fn

    return add


def get(name: str) -> type[Metric]:
    """The metric class registered as ``name``; a ``KeyError`` listing the known names otherwise."""
    try:
        return _METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known metrics: {sorted(_METRICS)}") from None


def available(family: str | None = None, *, needs: Sequence[str] | None = None) -> list[str]:
    """Registered metric ids in registration order, optionally of one ``family`` and computable from ``needs``
    (e.g. ``needs=("model", "inputs", "maps", "boxes")``: what a caller can supply)."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}; got {family!r}")
    return [
        name
        for name, cls in _METRICS.items()
        if (family is None or cls.family == family) and (needs is None or set(cls.needs) <= set(needs))
    ]


def describe() -> list[dict[str, Any]]:
    """Every registered metric as plain data (see ``Metric.describe``), like ``xai_core.methods()``."""
    return [cls.describe() for cls in _METRICS.values()]


def resolve(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` validated by ``name``'s schema, defaults filled in; ``ParameterError`` naming the setting,
    the expected range and the value otherwise."""
    cls = get(name)
    return validate(cls.params, settings, name)


def resolve_many(
    names: Sequence[str], settings: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Each named metric's resolved settings: every entry of ``settings`` goes to the metrics that declare it (one
    that none declares is a ``ParameterError``), ``overrides[name]`` to that metric alone; validated by each schema.
    """
    classes = [get(name) for name in dict.fromkeys(names)]
    declared = {p.name for cls in classes for p in cls.params}
    unknown = sorted(set(settings) - declared)
    if unknown:
        raise ParameterError(
            f"unknown setting(s) {unknown}; the metrics {[c.name for c in classes]} take {sorted(declared)}"
        )
    extra = overrides or {}
    stray = sorted(set(extra) - {c.name for c in classes})
    if stray:
        raise ParameterError(f"overrides name metric(s) {stray} that are not among {[c.name for c in classes]}")
    resolved = {}
    for cls in classes:
        mine = {k: v for k, v in settings.items() if any(p.name == k for p in cls.params)}
        resolved[cls.name] = validate(cls.params, {**mine, **extra.get(cls.name, {})}, cls.name)
    return resolved


def _run(cls: type[Metric], ctx: MetricContext, settings: Mapping[str, Any]) -> MetricResult:
    ctx.require(cls.name, cls.needs)
    if cls.suite:
        found = _SUITES[cls.suite](ctx, [cls.name], settings)[cls.name]
        if isinstance(found, MetricNotApplicable):
            raise found
        return found
    return cls().compute(ctx, **settings)


def evaluate(
    metric: str | type[Metric],
    *,
    model: Any = None,
    inputs: Tensor | None = None,
    maps: Any = None,
    boxes: Any = None,
    masks: Any = None,
    explainer: Explainer | None = None,
    model_factory: ModelFactory | None = None,
    target: Any = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> MetricResult:
    """Compute ``metric`` (a registered id, or a ``Metric`` subclass, registered or not): its settings validated
    by its schema, its needs checked (a ``ValueError`` names what is missing). Raises ``MetricNotApplicable`` when
    the inputs do not meet the metric's precondition."""
    cls = get(metric) if isinstance(metric, str) else metric
    resolved = validate(cls.params, settings, cls.name)
    ctx = MetricContext(
        model=model, inputs=inputs, maps=maps, boxes=boxes, masks=masks, explainer=explainer,
        model_factory=model_factory, target=target, chunk_size=chunk_size, progress=progress,
    )  # fmt: skip
    return _run(cls, ctx, resolved)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a is b
    return bool(a == b)


def _groups(names: Sequence[str], resolved: Mapping[str, dict[str, Any]]) -> list[tuple[str, list[str], dict]]:
    """Metrics grouped by suite where their shared settings agree; every other metric alone."""
    groups: list[tuple[str, list[str], dict]] = []
    for name in names:
        suite, mine = get(name).suite, resolved[name]
        for group_suite, members, merged in groups:
            if suite and group_suite == suite and all(_same(merged[k], v) for k, v in mine.items() if k in merged):
                members.append(name)
                merged.update(mine)
                break
        else:
            groups.append((suite, [name], dict(mine)))
    return groups


def evaluate_many(
    names: Sequence[str],
    *,
    model: Any = None,
    inputs: Tensor | None = None,
    maps: Any = None,
    boxes: Any = None,
    masks: Any = None,
    explainer: Explainer | None = None,
    model_factory: ModelFactory | None = None,
    target: Any = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    **settings: Any,
) -> dict[str, MetricResult]:
    """Compute several metrics, sharing work within suites; ``{name: result}`` in the order of ``names``.

    Each setting in ``settings`` goes to every named metric that declares it (a setting none of them declares is a
    ``ParameterError``); ``overrides[name]`` gives one metric its own values. A metric whose precondition the
    inputs do not meet (``MetricNotApplicable``, e.g. Average Drop on negative logits) is left out and logged.
    ``progress`` reports the whole run's fraction.
    """
    resolved = resolve_many(names, settings, overrides)
    groups = _groups(list(resolved), resolved)
    out: dict[str, MetricResult] = {}
    whole = MetricContext(
        model=model, inputs=inputs, maps=maps, boxes=boxes, masks=masks, explainer=explainer,
        model_factory=model_factory, target=target, chunk_size=chunk_size,
    )  # fmt: skip
    for i, (suite, members, merged) in enumerate(groups):
        ctx = replace(whole, progress=scaled_progress(progress, i / len(groups), (i + 1) / len(groups)))
        for name in members:
            ctx.require(name, get(name).needs)
        if suite:
            found = _SUITES[suite](ctx, members, merged)
        else:
            try:
                found = {members[0]: get(members[0])().compute(ctx, **merged)}
            except MetricNotApplicable as why:
                found = {members[0]: why}
        for name in members:
            value = found[name]
            if isinstance(value, MetricNotApplicable):
                log.info("%s left out: %s", name, value)
            else:
                out[name] = value
    return {name: out[name] for name in dict.fromkeys(names) if name in out}


# --- text: the CLI's --set name=value, the README table, docstrings ---------------------------------------------


def parse_setting(param: Param, text: str, metric: str = "") -> Any:
    """A setting's value from text (``--set steps=50``), typed by its declaration and validated by it."""
    raw: Any = text.strip()
    try:
        if param.kind == "int":
            raw = int(raw)
        elif param.kind == "float":
            raw = float(raw)
        elif param.kind == "bool":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            raw = lowered in ("true", "1", "yes")
    except ValueError:
        expected = {"int": "an integer", "float": "a number", "bool": "true or false"}[param.kind]
        raise ParameterError(f"{metric}: parameter '{param.name}' must be {expected}; got {text!r}") from None
    return param.coerce(raw, metric)


def settings_from_text(names: Sequence[str], pairs: Sequence[str]) -> dict[str, Any]:
    """``["steps=50", "substrate=black"]`` -> typed settings, each checked against a named metric declaring it."""
    params: dict[str, tuple[str, Param]] = {}
    for name in names:
        for p in get(name).params:
            params.setdefault(p.name, (name, p))
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"settings are name=value; got {pair!r}")
        if key not in params:
            raise ParameterError(f"unknown setting {key!r}; the metrics {list(names)} take {sorted(params)}")
        metric, param = params[key]
        out[key] = parse_setting(param, value, metric)
    return out


def _range(p: Param) -> str:
    described = p.describe()
    if "choices" in described:
        return "one of " + ", ".join(repr(c) for c in described["choices"])
    low, high = described.get("low"), described.get("high")
    if low is None and high is None:
        return ""
    return f"[{'' if low is None else low}, {'' if high is None else high}]"


def documented(name: str) -> Callable[[F], F]:
    """Decorator: append metric ``name``'s generated settings section to a public function's docstring."""

    def add(fn: F) -> F:
        section = settings_doc(name).replace("\n", "\n    ")
        fn.__doc__ = f"{(fn.__doc__ or '').rstrip()}\n\n    {section}\n"
        return fn

    return add


def settings_doc(name: str) -> str:
    """The ``Settings:`` section of a public function's docstring, generated from the schema."""
    lines = [f"Settings (validated by the schema, ``metrics.get({name!r}).params``):"]
    for p in get(name).params:
        limits = _range(p)
        lines.append(f"    {p.name} ({p.kind}, default {p.default!r}{', ' + limits if limits else ''}): {p.help}")
    return "\n".join(lines)


FAMILY_TITLES = {
    "faithfulness": "Faithfulness",
    "localization": "Localization",
    "robustness": "Robustness",
    "complexity": "Complexity",
    "randomization": "Randomization",
    "axiom": "Axioms",
}


def markdown_table() -> str:
    """Markdown table of every registered metric, grouped by family (the README's, between its markers)."""
    rows = [
        "| id | family | what it measures | needs | better | settings | paper |",
        "|---|---|---|---|---|---|---|",
    ]
    for cls in sorted(_METRICS.values(), key=lambda c: (FAMILIES.index(c.family), c.name)):
        settings = ", ".join(f"`{p.name}`={p.default!r}" for p in cls.params) or "—"
        better = "↑ higher" if cls.higher_is_better else "↓ lower"
        rows.append(
            f"| `{cls.name}` | {FAMILY_TITLES[cls.family]} | {cls.summary} | {', '.join(cls.needs)} | {better} | "
            f"{settings} | [{cls.paper}]({cls.url}) |"
        )
    return "\n".join(rows)
