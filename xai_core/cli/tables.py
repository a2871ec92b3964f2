"""The README's method and metric tables, generated from the registries (``saliency-studio methods --markdown``,
``saliency-studio metrics --markdown``; ``--update-readme`` rewrites both).

Light at import: the methods and metrics (and PyTorch) load when a table is built.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from xai_core import registry
from xai_core.registry import FAMILIES

FAMILY_TITLES = {
    "vanilla": "Vanilla gradients",
    "integrated": "Integrated gradients",
    "bias": "Bias gradients",
    "postprocess": "Post-processing",
}


def method_table() -> str:
    """Markdown table of every registered method, grouped by the survey's families."""
    importlib.import_module("xai_core.methods")  # registers every method
    rows = ["| id | family | what it computes | parameters | paper |", "|---|---|---|---|---|"]
    by_family = sorted(registry.all_methods().values(), key=lambda cls: (FAMILIES.index(cls.family), cls.name))
    for cls in by_family:
        params = ", ".join(f"`{p.name}`={p.default!r}" for p in cls.params) or "—"
        rows.append(
            f"| `{cls.name}` | {FAMILY_TITLES[cls.family]} | {cls.summary} | {params} | [{cls.paper}]({cls.url}) |"
        )
    rows.append(
        '| `noise=Noise("smoothgrad")` / `"smoothgrad_squared"` / `"vargrad"` | Post-processing | Mean, mean of '
        "squares, or variance of any method's map over noisy copies of the input | `samples`=25, `sigma`=0.15, "
        "`seed`=0 | [Smilkov et al. 2017](https://arxiv.org/abs/1706.03825), "
        "[Hooker et al. 2019](https://arxiv.org/abs/1806.10758), "
        "[Adebayo et al. 2018](https://arxiv.org/abs/1810.03292) |"
    )
    return "\n".join(rows)


def metric_table() -> str:
    """Markdown table of every registered metric (``xai_core.metrics.markdown_table``)."""
    from xai_core import metrics

    return metrics.markdown_table()


def _between(text: str, marker: str) -> tuple[str, str, str]:
    """``text`` split around the body between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` lines."""
    start, end = f"<!-- {marker}:start -->\n", f"\n<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"no {marker} markers ({start.strip()} ... {end.strip()})")
    head, rest = text.split(start, 1)
    body, tail = rest.split(end, 1)
    return head + start, body, end + tail


def method_table_in(text: str) -> str:
    """The method table between a README's ``methods-table`` markers."""
    return _between(text, "methods-table")[1]


def metric_table_in(text: str) -> str:
    """The metric table between a README's ``metrics-table`` markers."""
    return _between(text, "metrics-table")[1]


def update_readme(path: Path) -> bool:
    """Rewrite the method and the metric tables between the README's markers; True if either changed."""
    text = updated = path.read_text()
    for marker, table in (("methods-table", method_table), ("metrics-table", metric_table)):
        try:
            head, _, tail = _between(updated, marker)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        updated = head + table() + tail
    path.write_text(updated)
    return updated != text
