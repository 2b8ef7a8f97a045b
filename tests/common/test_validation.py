"""common/validation.py: one pydantic error as the TOML key and the problem, for every TOML file the project reads."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.validation import first_error, toml_key


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: Annotated[float, Field(gt=0)]

    @field_validator("weight")
    @classmethod
    def _not_seven(cls, weight: float) -> float:
        if weight == 7:
            raise ValueError("seven is not allowed")
        return weight


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoints: dict[str, list[_Entry]]


@pytest.mark.parametrize(("data", "key", "problem"), [
    ({"endpoints": {"GET /x": [{"weight": 1}, {"weight": 0}]}}, 'endpoints."GET /x"[1].weight', "Input should be greater than 0"),
    ({"endpoints": {"rest": [{"weight": 7}]}}, "endpoints.rest[0].weight", "seven is not allowed"),
    ({"endpoints": {"rest": [{"weight": 1, "weigth": 1}]}}, "endpoints.rest[0].weigth", "see the docs"),
    ({}, "endpoints", "Field required"),
])  # fmt: skip
def test_first_error_names_the_toml_key_and_the_problem(data, key, problem):
    with pytest.raises(ValidationError) as caught:
        _File.model_validate(data)
    assert first_error(caught.value, unknown_key="see the docs") == (key, problem)


def test_an_empty_location_is_the_top_level():
    assert toml_key(()) == "(top level)"
