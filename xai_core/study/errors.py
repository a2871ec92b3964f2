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
