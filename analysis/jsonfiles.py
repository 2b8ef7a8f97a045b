"""Reading JSON files so that every way they can be wrong becomes one InputError line naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from analysis.errors import InputError


def read_json(path: Path, *, what: str) -> Any:
    """Parse ``path``; ``what`` says what the file should be (used in the hint)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=path, hint=f"expected {what}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read file ({error.__class__.__name__})", path=path, hint=f"expected {what}") from None
    if not text.strip():
        raise InputError("file is empty", path=path, hint=f"expected {what}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON at line {error.lineno} column {error.colno} ({error.msg})",
            path=path,
            hint=f"expected {what}; the file may be truncated",
        ) from None


def read_json_object(path: Path, *, what: str) -> dict | None:
    """A JSON object file that may be absent (None); present but not an object is an InputError."""
    if not path.exists():
        return None
    data = read_json(path, what=what)
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", path=path, hint=f"expected {what}")
    return data


def validation_error_to_input_error(error: ValidationError, *, path: Path | str, prefix: str = "") -> InputError:
    """The first pydantic error as one line: the dotted key where it is, and what is wrong."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    key = ".".join(part for part in (prefix, location) if part) or None
    return InputError(first["msg"].rstrip("."), path=path, key=key)


def parse_model(model: type[BaseModel], data: Any, *, path: Path | str, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_error_to_input_error(error, path=path, prefix=prefix) from None
