"""One line for the errors Hydra itself raises before our code runs: an unknown option of a
config group, an unknown key, an override that does not parse, an output dir that cannot be
written. Light: Hydra, the standard library and tinynets' own light modules (errors, overrides).

`python train.py` runs Hydra with HYDRA_FULL_ERROR=1, so that Hydra raises instead of printing
its multi-line report; train.py turns what it raises into `error: <key>=<value> is not allowed:
<what is allowed>` and exit status 2. Other exceptions keep their traceback (they are bugs),
and a user who sets HYDRA_FULL_ERROR=1 gets Hydra's own behaviour.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinynets.errors import ConfigError, fail
from tinynets.overrides import key_value, split, value_of

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


def check_sweep_overrides(config) -> None:
    """Before a multirun starts: every option a sweep names for a config group must exist
    (Hydra would only find out when it composes that job, after the others ran)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not GlobalHydra.instance().is_initialized():
        return
    loader = GlobalHydra.instance().config_loader()
    from omegaconf import OmegaConf

    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)  # as typed: no interpolation
    overrides = OverridesParser.create().parse_overrides([str(o) for o in task])
    for o in overrides:
        if not o.is_sweep_override() or o.is_delete() or not o.is_choice_sweep():
            continue
        group = o.key_or_group
        options = loader.get_group_options(group)
        if not options:
            continue  # not a config group
        for value in o.sweep_string_iterator():
            if value not in options and value != "null":
                fail(ConfigError(group, value, f"one of {', '.join(sorted(options))}"))
