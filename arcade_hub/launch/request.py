"""What a user asks to launch, typed: one `LaunchRequest` for every entry point.

The launch form sends strings, and with JupyterHub's passthrough one-item lists; the hub's REST
API sends JSON types; the sessions API and the Batch page send words the entry point has
already split. All of them become a `LaunchRequest` here, through the same field validators
(one-item lists unwrapped, numbers and sizes coerced, text without NUL bytes), so a value is
refused with the same words wherever it came from. A `Refusal` names every bad field.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from arcade_hub.sizes import parse_gib

FORM_KEYS = ("image", "custom_image", "cores", "ram", "gpus", "dataset")
"""Accepted `user_options` keys (form and hub REST). `custom_image` is the form's free-text
image field."""
CUSTOM = "custom"
"""Value of the form's `image` radio button that selects `custom_image`."""
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Refusal(Exception):
    """A launch refused, with one sentence per field (`""`: the request as a whole) and the
    HTTP status every entry point answers with. `message` is what users are shown."""

    def __init__(self, errors: dict[str, str], status: int = 400) -> None:
        self.errors = errors
        self.status = status
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "; ".join(f"{k}: {v}" if k else v for k, v in self.errors.items())

    def __reduce__(self) -> tuple[type[Refusal], tuple[dict[str, str], int]]:
        """Pickled as made (a refusal may come from the service's parsing worker)."""
        return type(self), (self.errors, self.status)


LaunchRefused = Refusal
"""The name entry points raise a refusal by (it is an exception they may pass up)."""


class LaunchRequest(BaseModel):
    """What the user asked for, typed but not yet checked against the platform."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    image: str | None = Field(None, description="A catalogue entry's name or an image reference.")
    cores: float | None = None
    ram_gib: float | None = Field(None, alias="ram")
    gpus: int | None = None
    dataset: str | None = None
    # batch jobs only
    cmd: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    instances: int | None = None
    params: tuple[str, ...] = ()

    @field_validator("image", "dataset", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        value = _single(value)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {type(value).__name__}")
        return _no_nul(value.strip()) or None

    @field_validator("cores", mode="before")
    @classmethod
    def _cores(cls, value: Any) -> float | None:
        return _number(_single(value))

    @field_validator("ram_gib", mode="before")
    @classmethod
    def _ram(cls, value: Any) -> float | None:
        value = _single(value)
        if isinstance(value, str) and value.strip() and not _looks_numeric(value):
            return parse_gib(value)
        return _number(value)

    @field_validator("gpus", "instances", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> int | None:
        number = _number(_single(value))
        if number is None:
            return None
        if number != int(number):
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)

    @field_validator("cmd", "args", "params", mode="before")
    @classmethod
    def _words(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of strings")
        return tuple(_no_nul(v) for v in value)

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must map variable names to values")
        for key, item in value.items():
            if not isinstance(key, str) or not ENV_KEY.fullmatch(key):
                raise ValueError(f"{key!r} is not a variable name (letters, digits and _)")
            if not isinstance(item, str):
                raise ValueError(f"the value of {key} must be a string")
            _no_nul(item)
        return dict(value)

    @property
    def is_job(self) -> bool:
        """Whether anything only a batch job takes was given."""
        return bool(self.cmd or self.args or self.env or self.params or self.instances)


def parse_request(values: dict[str, Any]) -> LaunchRequest:
    """`values` (entry-point words already mapped to the model's fields) as a request; raise
    `Refusal` naming every bad field."""
    try:
        return LaunchRequest.model_validate(values)
    except ValidationError as e:
        raise Refusal(_errors(e)) from None


def parse_user_options(options: dict[str, Any] | None) -> LaunchRequest:
    """The launch form's and the hub REST API's `user_options` as a request (`custom_image`
    is the form's free-text field for `image: custom`)."""
    options = dict(options or {})
    errors: dict[str, str] = {}
    unknown = sorted(k for k in options if k not in FORM_KEYS)
    if unknown:
        errors[unknown[0]] = (
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(k for k in FORM_KEYS if k != 'custom_image')}"
        )
    custom = options.pop("custom_image", None)
    values = {k: v for k, v in options.items() if k in FORM_KEYS}
    try:
        image = LaunchRequest._text(values.get("image"))
        custom_text = LaunchRequest._text(custom)
    except ValueError as e:
        errors.setdefault("image", str(e))
        image = custom_text = None
    if image == CUSTOM:
        if not custom_text:
            errors["custom_image"] = "enter an image reference, or pick an image from the list"
        values["image"] = custom_text
    elif image is None and custom_text:
        values["image"] = custom_text
    try:
        request = LaunchRequest.model_validate(values)
    except ValidationError as e:
        errors = {**_errors(e), **errors}
        request = None
    if errors or request is None:
        raise Refusal(errors)
    return request


def _errors(error: ValidationError) -> dict[str, str]:
    """Field → our own sentence (the ValueError a validator raised), first error per field."""
    found: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        field = "ram" if field == "ram_gib" else field
        cause = (item.get("ctx") or {}).get("error")
        message = str(cause) if cause is not None else item["msg"]
        if item["type"] == "extra_forbidden":
            message = f"unknown field {field!r}"
        found.setdefault(field, message)
    return found


def _single(value: Any) -> Any:
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ValueError(f"give one value, not {len(value)}")
        return value[0]
    return value


def _no_nul(text: str) -> str:
    if "\0" in text:
        raise ValueError("must not contain a NUL character")
    return text


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


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
