"""The production team's session: a signed cookie that proves the admin token was typed.

Security, not a view: the cookie carries the session's id, expiry and CSRF token, signed
with a key derived from the server's session key and the admin token (never the token
itself). Logging out records the session's id as revoked (`db.sessions`), so a copy of the
cookie stops working too.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from db import sessions

SESSION_COOKIE = "paredao_producao"
SESSION_TTL = timedelta(hours=8)


@dataclass(frozen=True)
class ProducerSession:
    """A producer who typed the admin token: the session's id, when it ends, its CSRF token."""

    session_id: str
    expires_at: datetime
    csrf_token: str


def _session_key(secret: bytes, admin_token: str) -> bytes:
    # Bound to the admin token too: changing the token ends every session made with the old one.
    return hmac.new(secret, b"producao-session:" + admin_token.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_session(now: datetime) -> ProducerSession:
    return ProducerSession(
        session_id=secrets.token_urlsafe(16),
        expires_at=now + SESSION_TTL,
        csrf_token=secrets.token_urlsafe(24),
    )


def sign_session(session: ProducerSession, secret: bytes, admin_token: str) -> str:
    """The cookie value: the session as base64 JSON and its HMAC (never the admin token)."""
    payload = _b64(
        json.dumps(
            {
                "sid": session.session_id,
                "exp": int(session.expires_at.timestamp()),
                "csrf": session.csrf_token,
            },
            separators=(",", ":"),
        ).encode()
    )
    signature = hmac.new(_session_key(secret, admin_token), payload.encode(), hashlib.sha256)
    return f"{payload}.{_b64(signature.digest())}"


def read_session(
    cookie: str | None, secret: bytes, admin_token: str, now: datetime
) -> ProducerSession | None:
    """The session in a cookie if its signature holds and it has not expired, else None."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, signature = cookie.split(".")
    expected = hmac.new(_session_key(secret, admin_token), payload.encode(), hashlib.sha256)
    try:
        if not hmac.compare_digest(_unb64(signature), expected.digest()):
            return None
        fields = json.loads(_unb64(payload))
        session = ProducerSession(
            session_id=str(fields["sid"]),
            expires_at=datetime.fromtimestamp(int(fields["exp"]), UTC),
            csrf_token=str(fields["csrf"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError, OSError):
        return None
    return session if now < session.expires_at else None


def is_logged_out(engine: Engine, producer: ProducerSession) -> bool:
    """Whether the producer logged this session out (its cookie, or any copy, is refused)."""
    with engine.connect() as connection:
        return sessions.is_revoked(connection, producer.session_id)


def log_out(session: Session, producer: ProducerSession) -> None:
    """End the session on the server, in the request's unit of work."""
    sessions.revoke(session.connection(), producer.session_id, producer.expires_at)
