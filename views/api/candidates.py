"""Request and response schemas of candidates (applications)."""

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from model.candidate import MINIMUM_AGE, UFS, CandidateStatus, age_on
from model.errors import Invalid
from views.api.params import Date

_DATE = TypeAdapter(date)


def age_errors(birth_date: object, today: date) -> list[dict[str, Any]]:
    """The 422 detail (`[{loc, msg, type}]`) for a birth date under 18 years before `today`,
    the app's clock's date (so it is not a schema rule); empty for an adult or no date."""
    try:
        born = _DATE.validate_python(birth_date)
    except ValidationError:
        return []  # not a date: the schema reports it
    if age_on(born, today) >= MINIMUM_AGE:
        return []
    message = f"Value error, applicants must be {MINIMUM_AGE} or older"
    return [{"loc": ["body", "birth_date"], "msg": message, "type": "value_error"}]


def check_adult(birth_date: date | None, today: date) -> None:
    """Refuse (422, shaped like a validation error) an applicant under 18 on `today`."""
    if birth_date is not None and (errors := age_errors(birth_date, today)):
        raise Invalid(errors)


def _uf(state: str) -> str:
    if state.upper() not in UFS:
        raise ValueError(f"'{state}' is not a Brazilian state (UF); use e.g. SP, RJ, DF")
    return state.upper()


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# PostgreSQL's text holds no NUL character: one is refused here (422), where the schema says
# so, not by the database (a 500 the fuzzer found on the PostgreSQL pass).
NO_NUL = r"^[^\x00]*$"
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=NO_NUL)
]
Email = Annotated[EmailStr, BeforeValidator(_lower)]
# Applicants must be 18 or older on the app's clock's date: `check_adult`, not the schema.
BirthDate = Date
# Any UF, in either case (the schema says so too); stored in upper case.
UF_PATTERN = (
    "^(?:"
    + "|".join(f"[{uf[0]}{uf[0].lower()}][{uf[1]}{uf[1].lower()}]" for uf in sorted(UFS))
    + ")$"
)
State = Annotated[str, AfterValidator(_uf), Field(json_schema_extra={"pattern": UF_PATTERN})]
City = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=NO_NUL)
]
Bio = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL)]


def _http_url(value: str) -> str:
    """An http(s) URL, kept as it was sent (normalising could make it longer than its limit)."""
    HTTP_URL.validate_python(value)
    return value


HTTP_URL = TypeAdapter(HttpUrl)
PhotoURL = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00]*$"),
    AfterValidator(_http_url),
    Field(json_schema_extra={"format": "uri"}),
]


# The application the API documents (OpenAPI's example); the tests apply with it.
APPLICATION_EXAMPLE: dict[str, Any] = {
    "name": "Juliette Freire",
    "email": "juliette@example.com",
    "birth_date": "1989-12-03",
    "state": "PB",
    "city": "Campina Grande",
    "bio": "Advogada e maquiadora.",
    "photo_url": "https://example.com/juliette.jpg",
}


class CandidateCreate(BaseModel):
    """An application to join the house."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [APPLICATION_EXAMPLE]})

    name: Name = Field(description="Full name, 1–120 characters.")
    email: Email = Field(description="Contact email; one application per email.")
    birth_date: BirthDate = Field(description="Date of birth; applicants must be 18 or older.")
    state: State = Field(description="Brazilian state (UF), e.g. SP; lower case is accepted.")
    city: City = Field(description="City of residence.")
    bio: Bio = Field(
        default="", description="A few words about the applicant, up to 2,000 characters."
    )
    photo_url: PhotoURL | None = Field(default=None, description="An http(s) URL of a photo.")


class CandidateUpdate(BaseModel):
    """A partial update: only the fields sent change; each is validated as on application."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "housemate"}]}
    )

    name: Name | None = None
    email: Email | None = None
    birth_date: BirthDate | None = None
    state: State | None = None
    city: City | None = None
    bio: Bio | None = None
    photo_url: PhotoURL | None = None
    status: CandidateStatus | None = Field(
        default=None,
        description="applicant → housemate → eliminated | winner (an eliminated may return).",
    )


class CandidatePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    birth_date: date
    state: str
    city: str
    bio: str
    photo_url: str | None
    status: CandidateStatus
    created_at: datetime
    updated_at: datetime


class CandidatesPublic(BaseModel):
    items: list[CandidatePublic]
    total: int = Field(description="How many candidates match the filters, over all pages.")
    limit: int
    offset: int
