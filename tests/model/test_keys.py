"""One secret, a key per purpose; and the secrets the server refuses to start with."""

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import config
import main
from model.cpf import cpf_hash
from model.errors import CPFKeyMissing
from model.keys import Keys, hkdf_sha256, key_id
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, IsolatedSettings


class TestKeys:
    def test_hkdf_is_rfc_5869(self) -> None:
        # RFC 5869, appendix A.1.
        okm = hkdf_sha256(
            bytes([0x0B] * 22), salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42
        )
        assert okm.hex() == (
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        )

    def test_each_purpose_has_its_own_key(self) -> None:
        keys = Keys.derive(SECRET_KEY.encode())
        assert len({keys.cpf, keys.captcha, keys.session, SECRET_KEY.encode()}) == 4
        assert all(len(key) == 32 for key in (keys.cpf, keys.captcha, keys.session))
        assert Keys.derive(SECRET_KEY.encode()) == keys  # the same on every worker
        assert Keys.derive(b"another secret of at least 32 characters").cpf != keys.cpf

    def test_the_cpf_hash_uses_its_own_key(self) -> None:
        keys = Keys.derive(SECRET_KEY.encode())
        digits = "52998224725"
        expected = hmac.new(keys.cpf, f"7:{digits}".encode(), hashlib.sha256).hexdigest()
        assert cpf_hash(keys.cpf, 7, digits) == expected
        assert cpf_hash(SECRET_KEY.encode(), 7, digits) != expected


class TestCPFKeyRing:
    OLD = b"an-earlier-secret-key-0123456789abcdef"
    OLDER = b"an-even-earlier-secret-key-0123456789ab"

    def test_the_current_secret_hashes_and_the_previous_ones_are_kept(self) -> None:
        keys = Keys.derive(SECRET_KEY.encode(), [self.OLD, self.OLDER])
        old, older = Keys.derive(self.OLD), Keys.derive(self.OLDER)
        assert list(keys.cpf_ring) == [keys.cpf_key_id, old.cpf_key_id, older.cpf_key_id]
        assert keys.cpf_key(keys.cpf_key_id) == keys.cpf
        assert keys.cpf_key(old.cpf_key_id) == old.cpf
        assert keys.legacy_cpf_key_id == older.cpf_key_id  # the oldest
        assert Keys.derive(SECRET_KEY.encode()).legacy_cpf_key_id == keys.cpf_key_id
        # Only the current secret signs: the captcha and session keys are the current ones.
        assert (keys.captcha, keys.session) == (
            Keys.derive(SECRET_KEY.encode()).captcha,
            Keys.derive(SECRET_KEY.encode()).session,
        )

    def test_a_key_id_is_short_stable_and_reveals_neither_key_nor_secret(self) -> None:
        keys = Keys.derive(SECRET_KEY.encode())
        assert keys.cpf_key_id == key_id(keys.cpf) == Keys.derive(SECRET_KEY.encode()).cpf_key_id
        assert len(keys.cpf_key_id) == 16
        assert keys.cpf_key_id not in (keys.cpf.hex() + SECRET_KEY.encode().hex() + SECRET_KEY)
        assert Keys.derive(self.OLD).cpf_key_id != keys.cpf_key_id

    def test_a_key_not_in_the_ring_is_refused_by_name(self) -> None:
        keys = Keys.derive(SECRET_KEY.encode())
        missing = Keys.derive(self.OLD).cpf_key_id
        with pytest.raises(CPFKeyMissing, match=missing) as refused:
            keys.cpf_key(missing)
        assert refused.value.status_code == 503

    def test_previous_secrets_come_from_a_comma_separated_setting(self) -> None:
        settings = IsolatedSettings(
            PAREDAO_SECRET_KEY=SecretStr(SECRET_KEY),
            PAREDAO_PREVIOUS_SECRET_KEYS=SecretStr(f"{self.OLD.decode()}, {self.OLDER.decode()}"),
        )
        assert settings.previous_secrets == (self.OLD.decode(), self.OLDER.decode())
        assert settings.keys == Keys.derive(SECRET_KEY.encode(), [self.OLD, self.OLDER])

    def test_a_short_previous_secret_is_refused_at_start(self) -> None:
        with pytest.raises(
            ValidationError, match="PAREDAO_PREVIOUS_SECRET_KEYS: secret 2 is shorter than 32"
        ) as refused:
            IsolatedSettings(
                PAREDAO_SECRET_KEY=SecretStr(SECRET_KEY),
                PAREDAO_PREVIOUS_SECRET_KEYS=SecretStr(f"{self.OLD.decode()},short"),
            )
        assert self.OLD.decode() not in str(refused.value)  # never printed back


class TestMinimumLengths:
    @pytest.mark.parametrize(
        ("name", "value"),
        [("PAREDAO_SECRET_KEY", "k"), ("PAREDAO_ADMIN_TOKEN", "a" * 31)],
    )
    def test_a_short_secret_is_refused_with_how_to_make_one(self, name: str, value: str) -> None:
        fields: dict[str, Any] = {
            "PAREDAO_SECRET_KEY": SecretStr(SECRET_KEY),
            "PAREDAO_ADMIN_TOKEN": SecretStr(ADMIN_TOKEN),
            name: SecretStr(value),
        }
        with pytest.raises(ValidationError, match=f"{name} must be at least 32 characters"):
            IsolatedSettings(**fields)

    def test_32_characters_are_enough(self) -> None:
        settings = IsolatedSettings(
            PAREDAO_SECRET_KEY=SecretStr("s" * 32), PAREDAO_ADMIN_TOKEN=SecretStr("a" * 32)
        )
        assert settings.keys.cpf != settings.keys.captcha

    def test_the_server_does_not_start_and_says_why(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.chdir(tmp_path)  # no .env here
        monkeypatch.setenv("DATABASE_URL", "sqlite:///never-created.db")
        monkeypatch.setenv("PAREDAO_ADMIN_TOKEN", ADMIN_TOKEN)
        monkeypatch.setenv("PAREDAO_SECRET_KEY", "short")
        config.get_settings.cache_clear()
        try:
            with pytest.raises(SystemExit) as exited:
                main.main(["migrate"])
        finally:
            config.get_settings.cache_clear()
        assert "PAREDAO_SECRET_KEY must be at least 32 characters" in str(exited.value.code)
