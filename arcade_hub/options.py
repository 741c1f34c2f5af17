"""Parse `user_options` from the launch form or the REST API into a `LaunchRequest`.

The form sends strings (and, with JupyterHub's passthrough, one-item lists); the REST API
sends JSON types. Both go through `parse_user_options`, so both are held to the same rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from arcade_hub.sizes import parse_gib

KEYS = ("image", "custom_image", "cores", "ram", "gpus", "dataset")
"""Accepted `user_options` keys. `custom_image` is the form's free-text image field."""

CUSTOM = "custom"
"""Value of the form's `image` radio button that selects `custom_image`."""


class LaunchRefused(Exception):
    """A launch that policy or parsing refuses. `errors` maps a field to its message."""

    def __init__(self, errors: dict[str, str], status: int = 400) -> None:
        self.errors = errors
        self.status = status
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))

    def __reduce__(self) -> tuple[type[LaunchRefused], tuple[dict[str, str], int]]:
        """Pickled as made (a refusal may come from a worker process)."""
        return type(self), (self.errors, self.status)


@dataclass(frozen=True)
class LaunchRequest:
    """What the user asked for, typed but not yet checked against the platform."""

    image: str | None = None
    cores: float | None = None
    ram_gib: float | None = None
    gpus: int | None = None
    dataset: str | None = None


def parse_user_options(options: dict[str, Any] | None) -> LaunchRequest:
    """Coerce and type-check user options; raise `LaunchRefused` listing every bad field."""
    options = options or {}
    errors: dict[str, str] = {}
    unknown = sorted(k for k in options if k not in KEYS)
    if unknown:
        errors[unknown[0]] = (
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(k for k in KEYS if k != 'custom_image')}"
        )
    values: dict[str, Any] = {}
    for key in KEYS:
        if key not in options:
            continue
        try:
            values[key] = _single(options[key])
        except ValueError as e:
            errors[key] = str(e)
    parsed: dict[str, Any] = {}
    for key, parse in (
        ("image", _text),
        ("custom_image", _text),
        ("cores", _number),
        ("ram", _ram),
        ("gpus", _whole),
        ("dataset", _text),
    ):
        if key in values and key not in errors:
            try:
                parsed[key] = parse(values[key])
            except ValueError as e:
                errors[key] = str(e)
    image = parsed.get("image")
    if image == CUSTOM:
        image = parsed.get("custom_image")
        if not image:
            errors["custom_image"] = "enter an image reference, or pick an image from the list"
    elif image is None:
        image = parsed.get("custom_image")
    if errors:
        raise LaunchRefused(errors)
    return LaunchRequest(
        image=image,
        cores=parsed.get("cores"),
        ram_gib=parsed.get("ram"),
        gpus=parsed.get("gpus"),
        dataset=parsed.get("dataset"),
    )


def _single(value: Any) -> Any:
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ValueError(f"give one value, not {len(value)}")
        return value[0]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type(value).__name__}")
    value = value.strip()
    return value or None


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    else:
        raise ValueError(f"must be a number, not {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _ram(value: Any) -> float | None:
    if isinstance(value, str) and value.strip() and not _looks_numeric(value):
        return parse_gib(value)
    return _number(value)


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _whole(value: Any) -> int | None:
    number = _number(value)
    if number is None:
        return None
    if number != int(number):
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)
