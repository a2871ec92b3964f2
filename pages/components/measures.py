"""Measures of the metric registry on the app's maps: the picker, a settings form built from their schemas, the
computation (shared work, cached per measure, progress with ETA and a Stop button) and the table of scores.

Nothing here names a measure. Which measures a page offers is a family and the inputs the page can supply
(``available("faithfulness", ("model", "inputs", "maps"))``); titles, papers, directions and settings come from
``xai_core.metrics.describe()``; so a measure registered later appears on every page whose family and inputs fit.

Settings: a setting that several chosen measures declare alike (the perturbation curves' ``steps``) is one widget
for all of them; one that two measures declare differently (a seed of noise, a seed of masks) is one widget each.
Widget keys are ``state.measure_setting_key(scope, name, variant)``, assigned in registration order, so they are
stable when measures are added. Results are cached per (map, measure, its resolved settings, the page's context:
boxes, masks), so adding a measure computes that measure alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import xai_core
from pages.components import fair, memo, method_settings, runner, state, widgets
from pages.components.compute import Failure, MapResult
from xai_core import metrics

log = logging.getLogger(__name__)

UP, DOWN = "↑ higher", "↓ lower"
PROBES = 64  # input values compared to find the explanation of a robustness measure's worst copy (see ``Recorder``)
MAX_RECORDED = 256  # explanations of perturbed copies kept per map for that; more copies: the worst map is not shown


def available(families: str | Sequence[str], supplied: Sequence[str]) -> list[str]:
    """Registered measures of ``families`` computable from ``supplied`` (``MetricContext`` fields), in order."""
    wanted = (families,) if isinstance(families, str) else tuple(families)
    return [d["name"] for d in metrics.describe() if d["family"] in wanted and set(d["needs"]) <= set(supplied)]


def needs(name: str) -> tuple[str, ...]:
    return tuple(metrics.get(name).needs)


def title(name: str) -> str:
    return metrics.get(name).title or name


def better(name: str) -> str:
    return UP if metrics.get(name).higher_is_better else DOWN


def label(name: str) -> str:
    """A picker's entry: ``Insertion AUC ↑``."""
    return f"{title(name)} {better(name)[0]}"


def about(names: Sequence[str], key: str) -> None:
    """The measures as a table: title, direction, what it measures, its settings and its paper (a link)."""
    rows = []
    for name in names:
        cls = metrics.get(name)
        rows.append({"measure": title(name), "id": name, "better": better(name), "what it measures": cls.summary,
                     "settings": ", ".join(p.name for p in cls.params) or "none", "paper": cls.paper,
                     "link": cls.url or None})  # fmt: skip
    st.dataframe(
        pd.DataFrame(rows), hide_index=True, width="stretch", key=key,
        column_config={"link": st.column_config.LinkColumn("link", display_text="open")},
    )  # fmt: skip


def pick(scope: str, options: Sequence[str], default: Sequence[str], label_text: str = "Measures") -> list[str]:
    """The scope's measures picker (outside the form: it shapes the form), kept across pages."""
    chosen = widgets.kept(
        st.multiselect, label_text, state.measures_key(scope), [m for m in default if m in options],
        options=list(options), format_func=label, help="↑: higher is better, ↓: lower is better.",
    )  # fmt: skip
    return list(chosen)


@dataclass(frozen=True)
class Setting:
    """One widget: a parameter declaration and the chosen measures it applies to."""

    key: str
    spec: dict[str, Any]
    users: tuple[str, ...]


def _signature(spec: Mapping[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str)


def settings_of(scope: str, names: Sequence[str]) -> list[Setting]:
    """The widgets the measures ``names`` need, keys assigned over every registered measure (stable)."""
    keys: dict[tuple[str, str], str] = {}
    for described in metrics.describe():
        for spec in described["params"]:
            variant = (spec["name"], _signature(spec))
            if variant not in keys:
                first = not any(n == spec["name"] for n, _ in keys)
                keys[variant] = state.measure_setting_key(scope, spec["name"], "" if first else described["name"])
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for name in names:
        for p in metrics.get(name).params:
            spec = p.describe()
            found.setdefault(keys[(spec["name"], _signature(spec))], (spec, []))[1].append(name)
    return [Setting(key, spec, tuple(users)) for key, (spec, users) in found.items()]


def settings_form(scope: str, names: Sequence[str], columns: int = 4) -> dict[str, dict[str, Any]]:
    """Every setting of ``names`` (call inside the form), grouped by the measures that share it; each measure's
    values by name (validate with ``resolve``)."""
    groups: dict[tuple[str, ...], list[Setting]] = {}
    for setting in settings_of(scope, names):
        groups.setdefault(setting.users, []).append(setting)
    values: dict[str, dict[str, Any]] = {name: {} for name in names}
    for users, group in groups.items():
        st.caption(f"Settings of {', '.join(title(u) for u in users)}")
        for start in range(0, len(group), columns):
            for column, setting in zip(st.columns(columns), group[start : start + columns], strict=False):
                with column:
                    value = widgets.param(setting.spec, setting.key)
                for user in setting.users:
                    values[user][setting.spec["name"]] = value
    if names and not groups:
        st.caption("The chosen measures have no settings.")
    return values


def resolve(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each measure's settings validated by its schema (``ParameterError`` naming the setting, range and value)."""
    return {name: metrics.resolve(name, given) for name, given in values.items()}


@dataclass(frozen=True)
class Scored:
    """One map's measures: results by id, the measures left out with the reason, the worst copies' maps."""

    item: MapResult
    results: dict[str, metrics.MetricResult]
    skipped: dict[str, str]
    worst_maps: dict[str, np.ndarray] = field(default_factory=dict)  # measure -> [B, H, W] (robustness)


@dataclass(frozen=True)
class Run:
    """A page's last submit: the maps (by title), their measures, the settings, what was computed on."""

    model_name: str
    image_sha256: str
    context: str  # the boxes / masks the measures saw (a cache key part)
    maps: dict[str, MapResult]
    scored: list[Scored]
    settings: dict[str, dict[str, Any]]
    failures: list[Failure]


class Recorder:
    """Keeps the explanations an explainer returns for the evaluated model (a few input values as the probe), so
    the explanation of a robustness measure's worst perturbed copy can be shown without explaining it again."""

    def __init__(self, size: int) -> None:
        self.index = np.linspace(0, size - 1, PROBES).astype(np.int64)
        self.probes: list[np.ndarray] = []
        self.maps: list[np.ndarray] = []

    def add(self, inputs: Any, maps: np.ndarray) -> None:
        if len(self.maps) + len(maps) > MAX_RECORDED:
            return
        flat = np.asarray(inputs.detach().cpu()).reshape(len(maps), -1)
        self.probes.extend(flat[:, self.index])
        self.maps.extend(np.asarray(maps, dtype=np.float32))

    def find(self, inputs: np.ndarray) -> np.ndarray | None:
        """The recorded map of each row of ``inputs`` ``[B, ...]`` (``[B, H, W]``), or None if one is missing."""
        found = []
        probes = np.stack(self.probes) if self.probes else np.zeros((0, PROBES))
        for row in np.asarray(inputs).reshape(len(inputs), -1)[:, self.index]:
            if not len(probes):
                return None
            distance = np.abs(probes - row).max(axis=1)
            best = int(distance.argmin())
            if distance[best] > 1e-5 * max(1.0, float(np.abs(row).max())):
                return None
            found.append(self.maps[best])
        return np.stack(found)


def explainer(request: xai_core.Request, evaluated: Any, recorder: Recorder | None = None) -> Callable[..., Any]:
    """``explain(inputs, target, model=None)`` of ``request`` (``metrics.Explainer``): the page's own method and
    settings, post-processing included, on the evaluated model unless a measure passes a randomised copy."""

    def explain(inputs: Any, target: Any, model: Any = None) -> Any:
        result = xai_core.attribute(evaluated if model is None else model, inputs, request, target=target)
        if recorder is not None and model is None:
            recorder.add(inputs, result.to_maps())
        return result  # the Attribution: measures take its attributions, or its maps by the method's convention

    return explain


def _key(model_name: str, image_sha256: str, item: MapResult, name: str, settings: Any, context: str) -> str:
    return memo.key("measure", model_name, image_sha256, item.request.key(), item.target, name, settings, context)


def _missing_reason(name: str, compute: Callable[[str], Any]) -> str:
    """Why ``evaluate_many`` left ``name`` out: its ``MetricNotApplicable`` message, asked for alone."""
    try:
        compute(name)
    except ValueError as exc:  # MetricNotApplicable and ParameterError are ValueErrors
        return str(exc)
    return "not applicable to this map"


def score(
    subject: Any, item: MapResult, settings: Mapping[str, dict[str, Any]], context: str,
    progress: Callable[[float], None], on_wait: Callable[[int], None], supplied: Mapping[str, Any],
) -> Scored:  # fmt: skip
    """``item``'s measures (``settings``: resolved, by id): cached ones looked up, the others computed together
    as one job of the fair-use scheduler (``evaluate_many``: shared work), then cached one by one."""
    keys = {n: _key(subject.model_name, subject.image.sha256, item, n, s, context) for n, s in settings.items()}
    found = {n: memo.lookup(k) for n, k in keys.items()}
    results = {n: v[0] for n, v in found.items() if v is not None and v[0] is not None}
    skipped = {n: v[1] for n, v in found.items() if v is not None and v[0] is None}
    worst = {n: v[2] for n, v in found.items() if v is not None and v[2] is not None}
    missing = [n for n, v in found.items() if v is None]
    if not missing:
        progress(1.0)
        return Scored(item, results, skipped, worst)
    x = subject.model.preprocess(subject.image.image).contiguous()
    with fair.job(subject.model, on_wait) as job:
        recorder = Recorder(int(np.prod(x.shape[1:])))
        ctx = dict(model=job.model, inputs=x, maps=item.map[None], target=[item.target],
                   explainer=explainer(item.request, job.model, recorder), **supplied)  # fmt: skip
        relay = job.progress(progress)
        computed = metrics.evaluate_many(
            missing, overrides={n: settings[n] for n in missing}, progress=lambda f, _p: relay(f), **ctx
        )
        for name in missing:
            record = computed.get(name)
            why = None if record is not None else _missing_reason(
                name, lambda n: metrics.evaluate(n, **ctx, **settings[n])
            )  # fmt: skip
            inputs = getattr(record, "worst_inputs", None)
            worst_map = recorder.find(inputs) if inputs is not None else None
            memo.remember(keys[name], (record, why, worst_map))
            if record is not None:
                results[name] = record
            else:
                skipped[name] = str(why)
            if worst_map is not None:
                worst[name] = worst_map
    progress(1.0)
    return Scored(item, results, skipped, worst)


def run(
    scope: str, subject: Any, maps: Sequence[MapResult | Failure], values: Mapping[str, Mapping[str, Any]],
    *, context: str = "", supplied: Mapping[str, Any] | None = None, quiet: bool = False,
) -> Run | None:  # fmt: skip
    """Validate the settings, then score every map under one progress bar (ETA, Stop; none when ``quiet``: cheap
    measures recomputed as the page's inputs change); None after a message when a setting is invalid. A map whose
    measures fail becomes a ``Failure`` with the message; the others go on."""
    try:
        settings = resolve(values)
    except xai_core.ParameterError as exc:
        st.error(str(exc))
        return None
    items = [m for m in maps if isinstance(m, MapResult)]
    failures = [m for m in maps if isinstance(m, Failure)]
    scored: list[Scored] = []
    bar: Any = _Silent() if quiet else runner.Progress(max(1, len(items)), stop_key=state.measure_stop_key(scope))
    try:
        for i, item in enumerate(items):
            bar.begin(i, f"Measuring {item.title}")
            start = time.perf_counter()
            try:
                scored.append(score(subject, item, settings, context, bar.show, bar.waiting, supplied or {}))
            except (xai_core.Cancelled, ValueError) as exc:  # a stop, a bad input (an empty mask): its message
                failures.append(Failure(item.method, f"{item.title}: {exc}"))
            except Exception as exc:  # one map's measures failing must not hide the others'
                log.exception("measures of %s failed", item.title)
                failures.append(Failure(item.method, f"{item.title}: the measures failed: {exc}"))
            log.info("measures of %s: %.1f s", item.title, time.perf_counter() - start)
    finally:
        bar.done()
    shown = {m.title: m for m in items}
    return Run(subject.model_name, subject.image.sha256, context, shown, scored, dict(settings), failures)


class _Silent:
    """``runner.Progress``'s interface, showing nothing."""

    def begin(self, index: int, label: str) -> None:
        pass

    def show(self, fraction: float) -> None:
        pass

    def waiting(self, position: int) -> None:
        pass

    def done(self) -> None:
        pass


@dataclass
class Choice:
    """What a methods-and-measures form holds: the methods' requests, the measures and their settings."""

    requests: list[Any]
    names: list[str]
    values: dict[str, dict[str, Any]]
    submitted: bool


def form(
    scope: str, subject: Any, offered: Sequence[str], default: Sequence[str], default_methods: Sequence[str], *,
    form_key: str, submit_key: str,
) -> Choice:  # fmt: skip
    """The Faithfulness and Robustness pages' form, beside the picture: methods and measures picked above it, then
    inside it the methods' settings and the measures' settings, each in a scrolling box so that the submit button
    stays on a 1280 x 720 screen."""
    chosen = method_settings.pick(scope, default_methods, describe=runner.labels(subject))
    names = pick(scope, offered, default)
    with st.form(form_key):
        with st.container(height=260):
            specs = method_settings.form(scope, chosen, layers=subject.model.cam_layers(), bound=fair.bound)
        with st.expander("Settings of the measures", expanded=True), st.container(height=240):
            values = settings_form(scope, names)
        submitted = st.form_submit_button("Compute measures", type="primary", key=submit_key)
    return Choice(specs if chosen else [], names, values, submitted)


def submit(
    scope: str, subject: Any, key: str, *, submitted: bool, requests: Sequence[Any], names: Sequence[str],
    values: Mapping[str, Mapping[str, Any]], target: int,
) -> Run | None:  # fmt: skip
    """A measures form's outcome: on submit, the chosen methods' maps (``runner.maps``) scored by the chosen
    measures and stored under ``key``; then the stored run for this model and image, or None when there is nothing
    to show yet (or nothing was chosen: a warning says so)."""
    if submitted and not (requests and names):
        st.warning("Choose at least one method and one measure.")
    elif submitted:
        maps = runner.maps(subject, requests, target)
        st.session_state[key] = run(scope, subject, maps, {n: values[n] for n in names})
    result = current(key, subject)
    return result if result is not None and (result.scored or result.failures) else None


def current(key: str, subject: Any, context: str | None = None) -> Run | None:
    """The scope's stored run when it belongs to this model and image (and ``context``, when given)."""
    found: Run | None = st.session_state.get(key)
    if found is None or (found.model_name, found.image_sha256) != (subject.model_name, subject.image.sha256):
        return None
    return found if context is None or found.context == context else None


def value_text(result: Any) -> float | None:
    value = float(getattr(result, "value", np.nan))
    return None if np.isnan(value) else value


def table(run_: Run, pending: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (measure, method), ranked within each measure by its direction (1 = best); left-out measures
    keep their row with the reason, and so do the ``pending`` ones (not computed: why)."""
    rows = []
    for name in dict.fromkeys(n for s in run_.scored for n in (*s.results, *s.skipped)):
        found = [(s.item.title, s.results.get(name), s.skipped.get(name)) for s in run_.scored]
        valued = {m: v for m, r, _ in found if r is not None and (v := value_text(r)) is not None}
        sign = 1.0 if metrics.get(name).higher_is_better else -1.0
        ranks = {m: 1 + sum(sign * (w - v) > 0 for w in valued.values()) for m, v in valued.items()}  # ties share
        for method, result, why in found:
            value = value_text(result) if result is not None else None
            if result is not None and value is None:
                why = "undefined on this image (no perturbed copy or sample counted)"
            rows.append({"measure": title(name), "method": method, "value": value, "unit": metrics.get(name).unit,
                         "better": better(name), "rank": ranks.get(method), "note": why or ""})  # fmt: skip
    for name, why in (pending or {}).items():
        rows += [{"measure": title(name), "method": s.item.title, "value": None, "unit": metrics.get(name).unit,
                  "better": better(name), "rank": None, "note": why} for s in run_.scored]  # fmt: skip
    return pd.DataFrame(rows)


def show_table(run_: Run, key: str | None = None, pending: Mapping[str, str] | None = None) -> None:
    for failure in run_.failures:
        st.error(failure.message)
    frame = table(run_, pending)
    if frame.empty:
        return
    st.dataframe(
        frame, hide_index=True, width="stretch", key=key,
        height=35 * (len(frame) + 1) + 3,  # every row visible: no inner scrolling
        column_config={"value": st.column_config.NumberColumn(format="%.4g"),
                       "rank": st.column_config.NumberColumn(format="%d")},
    )  # fmt: skip


def curves(run_: Run) -> list[tuple[str, str, list[tuple[str, np.ndarray, np.ndarray]]]]:
    """Every curve of every result (a curve measure's own, a score's curves), by curve name in order of
    appearance: ``(name, title, [(method, fractions, scores of the image)])``."""
    found: dict[str, tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]] = {}
    for s in run_.scored:
        for name, result in s.results.items():
            own = (result,) if isinstance(result, metrics.CurveResult) else tuple(getattr(result, "curves", ()))
            for curve in own:
                try:
                    shown = title(curve.name)
                except KeyError:  # a curve that is not a measure of its own (ROAD's, sMPRT's layers)
                    shown = f"{title(name)}: {curve.name.replace('_', ' ')}"
                arrow = "↑" if curve.higher_is_better else "↓"
                lines = found.setdefault(curve.name, (f"{shown} {arrow}", []))[1]
                if all(method != s.item.title for method, _, _ in lines):
                    lines.append((s.item.title, np.asarray(curve.fractions), np.asarray(curve.scores)[0]))
    return [(name, shown, lines) for name, (shown, lines) in found.items()]
