"""Path and query parameters shared by the routers and the schemas, each bounded so that no
value reaches the database that it cannot hold: an id past PostgreSQL's `integer`, or an
offset past 64 bits, is a 422 in the schema instead of an overflow in the driver.

Each bound is stated before the validator that screens the raw input, so pydantic applies it
to the number itself and the OpenAPI schema states it as JSON Schema's `minimum`/`maximum`
(after a validator it would publish pydantic's own `ge`/`le`, which no client reads)."""

import re
from datetime import date
from typing import Annotated

from fastapi import Path, Query
from pydantic import AwareDatetime, BeforeValidator, Field

# Ids are `integer` columns (32 bits on PostgreSQL); SQLite would take 64, PostgreSQL not.
MAX_ID = 2**31 - 1
# OFFSET is a 64-bit integer on both databases.
MAX_OFFSET = 2**63 - 1


# Request bodies are JSON: a field the schema calls a number takes a JSON number, and one it
# calls a date takes a string, never what pydantic's lax mode would coerce into them ("5",
# true, a timestamp), so the body means what its documented schema says.


def json_number(value: object) -> object:
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number")
    return value


def json_text(value: object) -> object:
    if isinstance(value, int | float):  # bool included
        raise ValueError("must be a string in ISO 8601")
    return value


# An id in a path is written `[1-9][0-9]*`: Python's integer syntax would also take "0001",
# "+1" and "1_0" (paredão 10), so one resource would answer at many addresses.
ID_TEXT = re.compile(r"[1-9][0-9]*")


def id_text(value: object) -> object:
    if isinstance(value, str) and not ID_TEXT.fullmatch(value):
        raise ValueError("an id is written in digits 0-9, without sign, separator or leading zero")
    return value


Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(json_number)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0), BeforeValidator(json_number)]
Date = Annotated[date, BeforeValidator(json_text)]
Moment = Annotated[AwareDatetime, BeforeValidator(json_text)]
ParedaoId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The paredão's id."), BeforeValidator(id_text)
]
CandidateId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The candidate's id."), BeforeValidator(id_text)
]
Limit = Annotated[int, Query(ge=1, le=100, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many items.")]
