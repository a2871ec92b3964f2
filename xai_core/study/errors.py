"""The errors of the study engine; each message names what was wrong and, where it helps, what was expected."""

from __future__ import annotations


class StudyError(ValueError):
    """A study request that cannot be carried out (bad design, wrong state, invalid answer)."""


class NotFoundError(StudyError, LookupError):
    """A study code, session token or trial that does not exist (or is not visible to the caller)."""


class AccessDeniedError(StudyError, PermissionError):
    """A participant asked for something outside their own session."""


class AdminError(PermissionError):
    """A missing, wrong or unconfigured admin token."""


class DatabaseUnavailableError(StudyError):
    """The database did not answer, also after retries; the message names no driver, host or SQL."""


class TooSoonError(StudyError):
    """An answer that came sooner after its trial was shown than a person could have seen it (a late double click
    meant for the previous trial); nothing was recorded."""
