"""Every environment setting of Saliency Studio, declared once: name, default, meaning, and the reader.

The README's settings table is generated from ``SETTINGS`` (``markdown_table``; a test checks it is current), and a
test checks that every ``XAI_*`` name the code reads is declared here. Values are read when asked for, not at
import, so a test or a deployment script can set them late.

    from xai_core import settings
    settings.device()        # XAI_DEVICE or None (auto)
    settings.cache_dir()     # XAI_CACHE_DIR or ~/.cache/saliency-studio
    settings.limits()        # XAI_LIMITS: fair-use limits for anonymous app sessions (xai_core.jobs.Limits)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, its default (as text, "" for none), who reads it and what it does."""

    name: str
    default: str
    used_by: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "XAI_DEVICE",
        "",
        "engine",
        "Device models load onto (`cpu`, `cuda`, `cuda:1`, `mps`); empty: CUDA, "
        "then MPS, then CPU. Shown in the app's sidebar.",
    ),
    Setting(
        "XAI_CACHE_DIR",
        "~/.cache/saliency-studio",
        "engine",
        "Where trained helper models are kept (the digits CNNs of the data randomization test).",
    ),
    Setting(
        "XAI_WEIGHTS_DIR",
        "",
        "engine, app",
        "A folder of weights files the app may load by path (the model "
        "picker lists its `.pt`/`.pth` files); paths outside it are refused. Empty: only uploads.",
    ),
    Setting(
        "XAI_LIMITS",
        "off",
        "app",
        "Fair-use limits for anonymous sessions on a shared server: `off`, `shared` "
        "(the preset below), or `name=value` pairs overriding the preset, e.g. `steps=256,passes=20000`. Names: "
        "`steps` (any `steps`/`*_steps` parameter), `samples` (noise and method samples), `methods` (per run), "
        "`runs` (per session at once), `passes` (forward+backward passes per request), `queue` (jobs computing "
        "at once; the rest wait in line). Signed-in study admins are not limited.",
    ),
    Setting(
        "XAI_MAX_DECODE_MB",
        "1024",
        "engine, app",
        "Megabytes of estimated decode memory that image uploads may hold at once in one process (at most 2 "
        "decodes run together); an image whose decode alone would need more is refused with a message naming "
        "this setting.",
    ),
    Setting("XAI_LOG_LEVEL", "INFO", "app", "Level of the app's log on stderr (`DEBUG`, `INFO`, `WARNING`)."),
    Setting(
        "XAI_ALLOW_CLEAR_CACHE",
        "0",
        "app",
        "`1` lets a browser's clear-cache message wipe the shared caches "
        "(development only); by default the server refuses it and logs the attempt.",
    ),
    Setting(
        "XAI_STUDY_DB_URL",
        "sqlite:///studies/studies.db",
        "study",
        "The study database (SQLite file or PostgreSQL URL); also a Streamlit secret of the same name.",
    ),
    Setting(
        "XAI_STUDY_ONLY",
        "0",
        "study",
        "`1` makes a participant-facing server show anonymous visitors the study page only (every other URL too); "
        "a signed-in study admin also gets the design and results pages.",
    ),
    Setting(
        "XAI_STUDY_ADMIN_TOKEN",
        "",
        "study",
        "The study admin's sign-in token (16 characters or more); also a "
        "Streamlit secret of the same name. Empty: no admin pages.",
    ),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def raw(name: str) -> str:
    """The variable's value with surrounding blanks removed, or its declared default; unknown names are an error."""
    if name not in _BY_NAME:
        raise KeyError(f"{name} is not a declared setting; declared: {sorted(_BY_NAME)}")
    value = os.environ.get(name, "").strip()
    return value or _BY_NAME[name].default


def device() -> str | None:
    """``XAI_DEVICE``, or None to pick automatically."""
    return raw("XAI_DEVICE") or None


def cache_dir() -> Path:
    """``XAI_CACHE_DIR`` (``~`` expanded)."""
    return Path(raw("XAI_CACHE_DIR")).expanduser()


def weights_dir() -> Path | None:
    """``XAI_WEIGHTS_DIR``, or None when loading weights by path is off."""
    value = raw("XAI_WEIGHTS_DIR")
    return Path(value).expanduser().resolve() if value else None


def log_level() -> int:
    """``XAI_LOG_LEVEL`` as a ``logging`` level; an unknown name falls back to INFO (and says so)."""
    name = raw("XAI_LOG_LEVEL").upper()
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        log.warning("XAI_LOG_LEVEL=%r is not a logging level; using INFO", name)
        return logging.INFO
    return level


def allow_clear_cache() -> bool:
    """``XAI_ALLOW_CLEAR_CACHE`` is ``1``/``true``/``yes``."""
    return raw("XAI_ALLOW_CLEAR_CACHE").lower() in ("1", "true", "yes")


def limits_text() -> str:
    """``XAI_LIMITS`` as written (``xai_core.jobs.Limits.parse`` reads it)."""
    return raw("XAI_LIMITS")


def markdown_table() -> str:
    """The README's table of settings."""
    rows = ["| variable | default | read by | what it does |", "|---|---|---|---|"]
    for s in SETTINGS:
        rows.append(f"| `{s.name}` | {f'`{s.default}`' if s.default else '(empty)'} | {s.used_by} | {s.meaning} |")
    return "\n".join(rows)
