"""A check of our own for the fuzz run (tests/controllers/test_openapi_fuzz.py).

`positive_data_acceptance` lets an operation answer a schema-valid request 422 where a
business rule refuses it (schemathesis.toml). That would also hide a bound the server
enforces but the published schema does not state (pydantic's `ge`/`le` in place of JSON
Schema's `minimum`/`maximum`): a client generated from `/openapi.json` would send such a body
and be refused. So a 422 to a schema-valid request must come from a rule, never from
validation of something JSON Schema can say.
"""

from typing import Any

import schemathesis

# Pydantic's error types for what a JSON schema states: bounds, lengths, patterns, required
# and unknown fields, enums and types. A business rule answers its own code, or `value_error`
# from a validator no schema can express (a voter_id's invisible characters).
SCHEMA_STATED = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "finite_number",
        "too_short",
        "too_long",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "missing",
        "extra_forbidden",
        "enum",
        "literal_error",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "bool_type",
        "string_type",
        "list_type",
        "dict_type",
        "model_type",
    }
)


@schemathesis.check
def schema_valid_bodies_meet_no_hidden_bound(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """A schema-valid request is never refused 422 for what the schema could have stated."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code != 422:
        return None
    body: Any = response.json()
    if not isinstance(body, dict) or body.get("error") != "validation_error":
        return None  # a business rule's own code
    hidden = [
        error
        for error in body.get("detail", [])
        if isinstance(error, dict) and error.get("type") in SCHEMA_STATED
    ]
    if hidden:
        raise AssertionError(
            "a request valid by the published schema was refused for a constraint the schema "
            f"could state but does not: {hidden}"
        )
    return None
