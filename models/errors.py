"""Errors that name what was wrong and what is allowed.

Every face (CLI, bridge, renderer) shows `message` to the user as is and the
bridge forwards `code` and `field`, so messages are written for people.
"""

from __future__ import annotations


class ReverieError(ValueError):
    """Bad input or an impossible request. `code` is stable, `field` names the offending parameter."""

    code = "invalid_value"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class AudioFileError(ReverieError):
    code = "bad_audio"


class Cancelled(ReverieError):
    """Raised when a progress callback returns False: the run stopped at a step boundary."""

    code = "cancelled"

    def __init__(self, message: str = "cancelled by the caller", heard_at: int | None = None):
        super().__init__(message)
        # Where the job was when the cancel reached it, if that was elsewhere (a Ray actor): it stops at the
        # end of the step it was in, so at step heard_at + 1 at the latest.
        self.heard_at = heard_at
