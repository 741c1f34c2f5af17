"""Load and validate the platform document, with errors that name the key path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from arcade_hub.config.base import ENV_NAME_PATTERN, HOLDS_A_SECRET, may_hold_a_secret
from arcade_hub.config.platform import PlatformConfig
from arcade_hub.quoting import ECHO_LIMIT, shorten, shown, without_userinfo


class ConfigError(Exception):
    """A platform document that cannot be used. `problems` lists `path: message` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not a valid Arcade Hub configuration:\n{lines}")


def default_config_text() -> str:
    """The document shipped in the package, used when no file is given."""
    return resources.files("arcade_hub.config").joinpath("default.yaml").read_text()


def load_config(path: str | Path | None = None) -> PlatformConfig:
    """Load a platform document from `path`, or the packaged default."""
    if path is None:
        return parse_config(default_config_text(), "the built-in default configuration")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(str(p), [f"cannot read the file: {e.strerror}"]) from None
    return parse_config(text, str(p))


def parse_config(text: str, source: str = "<config>") -> PlatformConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(source, [f"{where}not valid YAML ({problem})"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, ["the document must be a mapping of settings"])
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(source, [_describe(err, data) for err in e.errors()]) from None


def _describe(err: Any, data: dict[str, Any]) -> str:
    """One problem as `key.path: what is wrong (got 'value')`. Configuration errors go to logs
    and terminals, so the value is quoted as every message quotes input (at most `ECHO_LIMIT`
    characters, no password of a URL) and not at all for a setting that may hold a secret."""
    path = _key_path(err["loc"], data)
    secret = err["type"] == HOLDS_A_SECRET or any(
        isinstance(part, str) and may_hold_a_secret(part) for part in err["loc"]
    )
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown setting (check the spelling; see docs/reference/configuration.md)"
    elif err["type"] == "missing":
        msg = "required setting is missing"
    elif err["type"] == "string_pattern_mismatch" and (
        err.get("ctx", {}).get("pattern") == ENV_NAME_PATTERN
    ):
        msg = "the name of an environment variable (letters, digits and _)"
        msg += ", not the secret itself" if secret else ""
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    msg = without_userinfo(msg)  # validators' messages may quote a URL
    if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
        value = err["input"]
        if secret:
            msg = f"{msg} (the value is not shown: it may be a secret)"
        elif isinstance(value, str):
            msg = f"{msg} (got {shown(value)})"
        elif not isinstance(value, dict | list):
            msg = f"{msg} (got {shorten(repr(value), ECHO_LIMIT)})"
    return f"{path}: {msg}" if path else msg


def _key_path(loc: tuple[Any, ...], data: Any) -> str:
    """`('catalogue', 2, 'kind')` -> `catalogue[2] (notebook).kind`."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            label = node.get("name") or node.get("id") if isinstance(node, dict) else None
            if label:
                out += f" ({label})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out
