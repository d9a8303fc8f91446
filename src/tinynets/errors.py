"""Errors a user can fix, and the one printer for them. `UserError` is the one exception type for a bad
input (a config value, a file, a command-line argument, missing data, a refused resume, an export that
fails its check): `str(e)` is the line shown, `code` the exit status. `ConfigError(key, value, allowed)`
is its usual form: `key=value is not allowed: allowed`. Every entry point prints through `report`
(`error: <line>` on stderr, returns the status) or `fail` (the same, then exits). A divergence
(tinynets.run.resume.Diverged, status 1) is not a user's input and is not a UserError. Imports no other
tinynets module."""

from __future__ import annotations

import sys
from typing import Any, NoReturn


class UserError(ValueError):
    """A bad input the user can fix: `str(e)` is the one line printed after `error: `; `code` is the
    exit status of a command that stops on it (2: bad input)."""

    code = 2


class ConfigError(UserError):
    """A value that is not allowed, as `key=value is not allowed: <what is allowed>`."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")


def one_line(e: BaseException, limit: int = 500) -> str:
    """Any exception's message on one line (its type's name when it has none), at most `limit` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:limit] + ("..." if len(text) > limit else "")


def report(error: BaseException | str, code: int | None = None) -> int:
    """The one printer: `error: <line>` on stderr; returns the exit status (`code`, else the error's own,
    else 2). A UserError or a string is printed as it is; another exception on one line."""
    line = error if isinstance(error, (str, UserError)) else one_line(error)
    print(f"error: {line}", file=sys.stderr, flush=True)
    return code if code is not None else getattr(error, "code", 2)


def fail(error: BaseException | str, code: int | None = None) -> NoReturn:
    """`report`, then exit with its status."""
    raise SystemExit(report(error, code))
