"""Errors a user can fix, and the one printer for them. `UserError` is the one exception type for a bad
input (a config value, a file, a command-line argument, missing data, a refused resume, an export that
fails its check): `str(e)` is the line shown, `code` the exit status. `ConfigError(key, value, allowed)`
is its usual form: `key=value is not allowed: allowed`. Every entry point prints through `report`
(`error: <line>` on stderr, returns the status) or `fail` (the same, then exits). A divergence
(tinynets.run.resume.Diverged, status 1) is not a user's input and is not a UserError.

Hydra's own errors, raised before our code runs (an unknown option of a config group, an unknown key,
an override that does not parse, an output dir that cannot be written), get the same one line:
`python train.py` runs Hydra with HYDRA_FULL_ERROR=1, so that Hydra raises instead of printing its
multi-line report, and `run_with_one_line_errors` turns what it raises into `error: <key>=<value> is
not allowed: <what is allowed>` and exit status 2. Other exceptions keep their traceback (they are
bugs), and a user who sets HYDRA_FULL_ERROR=1 gets Hydra's own behaviour.

Light: the standard library and tinynets.overrides; Hydra is imported where it is used."""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from tinynets.overrides import key_value, split, value_of


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


# ---- Hydra's own errors as one line ----------------------------------------------------------

OUR_MARK = "TINYNETS_ONE_LINE_ERRORS"  # set with HYDRA_FULL_ERROR by us, not by the user
WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EROFS, errno.EEXIST, errno.ENOSPC, errno.EISDIR}


def _squash(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and not ln.strip().startswith("See http")]
    return " ".join(lines)[:400]


def _output_dir_key(argv: list[str]) -> tuple[str, str | None]:
    """The key and value of the dir Hydra was creating (run dir, or sweep dir for a multirun)."""
    from hydra.core.hydra_config import HydraConfig

    multirun = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        cfg = HydraConfig.get()
        multirun = multirun or str(cfg.mode) == "RunMode.MULTIRUN"
        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        return key, str(cfg.sweep.dir if multirun else cfg.run.dir)
    except Exception:  # noqa: BLE001 - Hydra did not get that far
        return key, value_of(argv, key)


def describe(e: BaseException, argv: list[str]) -> str | None:
    """The one line for an error Hydra raised (mostly a ConfigError's), or None when it is not one of those
    (a bug)."""
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import InterpolationResolutionError

    if isinstance(e, InterpolationResolutionError):  # a resolver failed: an unset variable, an unreadable file
        why = re.sub(r"^\w+ raised while resolving interpolation: ", "", str(e).splitlines()[0]).strip('"')
        leaf = str(getattr(e, "full_key", "") or "").rpartition(".")[2]
        typed = [(k, v) for k, v in map(key_value, argv) if "${" in v]
        named = [(k, v) for k, v in typed if leaf and (k == leaf or k.endswith("." + leaf))]
        if len(named or typed) == 1:  # the override that holds the interpolation
            return str(ConfigError(*(named or typed)[0], why))
        return why
    if isinstance(e, MissingConfigException) and e.missing_cfg_file and e.options is not None:
        group, _, name = str(e.missing_cfg_file).rpartition("/")
        if group:
            return str(ConfigError(group, name, f"one of {', '.join(sorted(e.options))}"))
    if isinstance(e, OverrideParseException):
        key, value = split(str(e.override))  # as typed
        text = _squash(re.sub(r"^Error parsing override '.*'", "", str(e)))
        return str(ConfigError(key, value, f"it is not a valid override ({text})"))
    if isinstance(e, HydraException):
        m = re.search(r"Could not override '([^']+)'", str(e))
        if m and "is not in struct" in f"{e} {e.__cause__}":
            key = m.group(1)
            value = value_of(argv, key)
            return str(ConfigError(key, value, f"there is no such key in the config (a typo? to add a new key: "
                                               f"+{key}={value})"))
        return _squash(str(e)) or type(e).__name__
    if isinstance(e, OSError) and e.errno in WRITE_ERRNOS and e.filename:
        key, value = _output_dir_key(argv)
        if value is not None:
            target, failed = Path(value).absolute(), Path(str(e.filename)).absolute()
            if failed == target or target in failed.parents or failed in target.parents:
                return str(ConfigError(key, value, f"it cannot be written ({e.strerror}: {e.filename})"))
    return None


def run_with_one_line_errors(main: Callable[[], Any], argv: list[str] | None = None) -> Any:
    """Call Hydra's `main()`; Hydra's errors become one line on stderr and exit status 2."""
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get("HYDRA_FULL_ERROR") == "1" and os.environ.get(OUR_MARK) != "1":
        return main()  # the user asked for Hydra's full tracebacks
    before = {k: os.environ.get(k) for k in ("HYDRA_FULL_ERROR", OUR_MARK)}
    os.environ["HYDRA_FULL_ERROR"] = os.environ[OUR_MARK] = "1"  # DDP's rank processes inherit both
    try:
        return main()
    except Exception as e:  # noqa: BLE001
        line = describe(e, argv)
        if line is None:
            raise
        fail(line)
    finally:
        for k, v in before.items():  # as it was (matters when called in-process, e.g. by the tests)
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
