"""What every client of a test server sends: the admin credentials, and a valid application."""

from typing import Any

# As long as the server requires (PAREDAO_ADMIN_TOKEN and PAREDAO_SECRET_KEY: 32 or more).
ADMIN_TOKEN = "test-admin-token-0123456789abcdefghij"
SECRET_KEY = "test-secret-key-0123456789abcdefghijklm"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def application(**overrides: Any) -> dict[str, Any]:
    """A valid application body, with `overrides` applied."""
    body: dict[str, Any] = {
        "name": "Juliette Freire",
        "email": "juliette@example.com",
        "birth_date": "1989-12-03",
        "state": "PB",
        "city": "Campina Grande",
        "bio": "Advogada e maquiadora.",
        "photo_url": "https://example.com/juliette.jpg",
    }
    body.update(overrides)
    return body
