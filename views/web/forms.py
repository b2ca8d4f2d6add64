"""The application form: its fields, the states to choose from, and each field's error in
Portuguese."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from model.candidate import UFS

CANDIDATE_FIELDS = ("name", "email", "birth_date", "state", "city", "bio", "photo_url")

# fmt: off
STATE_NAMES: dict[str, str] = {
    "AC": "Acre", "AL": "Alagoas", "AP": "Amapá", "AM": "Amazonas", "BA": "Bahia",
    "CE": "Ceará", "DF": "Distrito Federal", "ES": "Espírito Santo", "GO": "Goiás",
    "MA": "Maranhão", "MT": "Mato Grosso", "MS": "Mato Grosso do Sul", "MG": "Minas Gerais",
    "PA": "Pará", "PB": "Paraíba", "PR": "Paraná", "PE": "Pernambuco", "PI": "Piauí",
    "RJ": "Rio de Janeiro", "RN": "Rio Grande do Norte", "RS": "Rio Grande do Sul",
    "RO": "Rondônia", "RR": "Roraima", "SC": "Santa Catarina", "SP": "São Paulo",
    "SE": "Sergipe", "TO": "Tocantins",
}
# fmt: on
assert STATE_NAMES.keys() == UFS
# The application form's choices: (UF, name), in the order of the names.
STATE_CHOICES = sorted(STATE_NAMES.items(), key=lambda item: item[1])

_FIELD_MESSAGES: dict[str, str] = {
    "name": "Informe seu nome completo (até 120 caracteres).",
    "email": "Informe um e-mail válido, como nome@exemplo.com.br.",
    "birth_date": "Informe sua data de nascimento (dia, mês e ano).",
    "state": "Escolha seu estado.",
    "city": "Informe sua cidade (até 120 caracteres).",
    "bio": "A apresentação pode ter até 2.000 caracteres.",
    "photo_url": "Informe o endereço (http ou https) de uma foto, ou deixe em branco.",
}


@dataclass(frozen=True)
class FieldError:
    """What is wrong with one field: in Portuguese, and in the API's own words."""

    message: str
    detail: str | None = None


def candidate_field_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, FieldError]:
    """The first validation error of each field of the application, in Portuguese.

    `errors` is the API's 422 detail (`[{loc, msg, type}]`); the API's own sentence is kept
    beside the Portuguese one, so that nothing it says is lost.
    """
    messages: dict[str, FieldError] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        field = next((part for part in loc if part in CANDIDATE_FIELDS), "form")
        if field in messages:
            continue
        msg = str(error.get("msg", "")).removeprefix("Value error, ") or None
        if field == "birth_date" and msg and "18 or older" in msg:
            message = "É preciso ter 18 anos ou mais para se inscrever."
        elif field == "state" and error.get("type") == "value_error":
            message = "Escolha um dos 27 estados (UF), como SP ou RJ."
        else:
            message = _FIELD_MESSAGES.get(field, "Confira este campo.")
        messages[field] = FieldError(message, msg)
    return messages
