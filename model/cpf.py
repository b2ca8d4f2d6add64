"""CPF (Cadastro de Pessoas Físicas): check digits, and the keyed hash that is all we store."""

import hashlib
import hmac
import re

from model.errors import InvalidCPF

# The 11 digits bare, or in the mask 000.000.000-00: nothing else, so that a sign, a space or
# a stray separator is a mistake to show the voter, not something to read past.
_WRITTEN = re.compile(r"[0-9]{11}|[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}")


def _check_digit(digits: str) -> int:
    weights = range(len(digits) + 1, 1, -1)
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) * 10 % 11
    return 0 if remainder == 10 else remainder


def normalize_cpf(raw: str) -> str:
    """The 11 digits of a CPF given bare (`12345678909`) or in its mask (`123.456.789-09`).

    Raises `InvalidCPF` for anything else, for numbers of one repeated digit (which pass the
    check-digit arithmetic but are not issued) and for wrong check digits.
    """
    if not _WRITTEN.fullmatch(raw):
        raise InvalidCPF("a CPF is 11 digits, bare (00000000000) or masked (000.000.000-00)")
    digits = raw.replace(".", "").replace("-", "")
    if digits == digits[0] * 11:
        raise InvalidCPF("a CPF cannot be one digit repeated")
    if _check_digit(digits[:9]) != int(digits[9]) or _check_digit(digits[:10]) != int(digits[10]):
        raise InvalidCPF("the CPF's check digits do not match: please check the number")
    return digits


def cpf_hash(key: bytes, paredao_id: int, digits: str) -> str:
    """HMAC-SHA256 of the CPF under the server's secret key, scoped to one paredão.

    Keyed, so a leaked database cannot be reversed by hashing all 10⁹ CPFs; scoped, so the
    same person's votes in different paredões cannot be linked.
    """
    message = f"{paredao_id}:{digits}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
