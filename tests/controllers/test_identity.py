"""What a voter's limits bind to in the anonymous mode: one canonical device id (case, width
and invisible characters make no new voter), captcha tokens good for one paredão only, and
challenges handed out at a bounded rate per address."""

from typing import Any

import httpx
import pytest

from model.voter import normalize_voter_id
from services.throttle import AddressThrottle
from tests.conftest import TEST_NOW, Clock, solve_captcha
from tests.support.api import assert_error


class TestNormalizeVoterId:
    @pytest.mark.parametrize(
        "variant",
        [
            "phone-1",
            "Phone-1",
            "PHONE-1",
            " phone-1 ",
            "ＰＨＯＮＥ－１",
            "phone-\u0031",
            "ｐhone-1",
        ],
    )
    def test_variants_of_one_id_are_one_id(self, variant: str) -> None:
        assert normalize_voter_id(variant) == "phone-1"

    def test_case_folding_goes_beyond_lower_case(self) -> None:
        assert normalize_voter_id("STRASSE") == normalize_voter_id("straße")

    @pytest.mark.parametrize(
        "bad",
        [
            "pho\u200bne",  # zero-width space
            "phone\u200d1",  # zero-width joiner
            "\u2060phone",  # word joiner
            "phone\ufeff",  # byte-order mark
            "\u3164",  # Hangul filler
            "a\u2800b",  # braille blank
            "pho\u00adne",  # soft hyphen
            "a\x00b",
            "a\nb",
            "a\u202eb",  # right-to-left override
            "a\ufe0fb",  # variation selector
        ],
    )
    def test_control_and_invisible_characters_are_refused(self, bad: str) -> None:
        with pytest.raises(ValueError, match="control or invisible"):
            normalize_voter_id(bad)

    @pytest.mark.parametrize("bad", ["", "   ", "\u3000"])
    def test_empty_is_refused(self, bad: str) -> None:
        with pytest.raises(ValueError, match="empty"):
            normalize_voter_id(bad)

    def test_too_long_once_canonical_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at most 64"):
            normalize_voter_id("\ufdfa" * 10)  # one character that NFKC makes 18


def vote(nominee_id: int, voter_id: str, **extra: Any) -> dict[str, Any]:
    return {"nominee_id": nominee_id, "mode": "torcida", "voter_id": voter_id, **extra}


class TestOneVoterOneBudget:
    async def test_case_width_and_spaces_share_the_torcida_limit(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        a = p["nominees"][0]["candidate_id"]
        variants = ["phone-1", "Phone-1", "PHONE-1", " phone-1", "ＰＨＯＮＥ－１"] * 2
        for variant in variants:
            r = await client.post(f"/paredoes/{p['id']}/votes", json=vote(a, variant))
            assert r.status_code == 202, r.text
        r = await client.post(f"/paredoes/{p['id']}/votes", json=vote(a, "pHoNe-1"))
        assert_error(r, 429, "rate_limited")

    async def test_an_invisible_character_is_422(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao()
        a = p["nominees"][0]["candidate_id"]
        r = await client.post(f"/paredoes/{p['id']}/votes", json=vote(a, "phone\u200b-1"))
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "voter_id"]
        assert "invisible" in r.json()["detail"][0]["msg"]


class TestCaptchaBoundToParedao:
    async def test_a_token_solved_for_one_paredao_is_403_in_another(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        first = await open_paredao(require_captcha=True)
        second = await open_paredao(require_captcha=True)
        token = await solve_captcha(client, first["id"])
        nominee = second["nominees"][0]["candidate_id"]
        r = await client.post(
            f"/paredoes/{second['id']}/votes", json=vote(nominee, "v", captcha_token=token)
        )
        assert r.status_code == 403, r.text
        assert "another paredão" in r.json()["detail"]
        nominee = first["nominees"][0]["candidate_id"]
        r = await client.post(
            f"/paredoes/{first['id']}/votes", json=vote(nominee, "v", captcha_token=token)
        )
        assert r.status_code == 202, r.text

    async def test_a_challenge_names_its_paredao(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/captcha/challenge")
        assert r.status_code == 422
        r = await client.get("/captcha/challenge", params={"paredao_id": 2**31})
        assert r.status_code == 422
        r = await client.get("/captcha/challenge", params={"paredao_id": 3})
        assert r.status_code == 200
        assert "paredao=3" in r.json()["salt"]
        assert r.json()["expires_in_s"] == 120

    async def test_an_expired_token_is_403(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await open_paredao(require_captcha=True)
        token = await solve_captcha(client, p["id"])
        clock.advance(seconds=121)
        nominee = p["nominees"][0]["candidate_id"]
        r = await client.post(
            f"/paredoes/{p['id']}/votes", json=vote(nominee, "v", captcha_token=token)
        )
        assert r.status_code == 403, r.text
        assert "expired" in r.json()["detail"]


@pytest.mark.settings(captcha_per_minute=3)
class TestChallengeRate:
    async def test_past_the_rate_429_with_retry_after_until_it_refills(
        self, client: httpx.AsyncClient, clock: Clock
    ) -> None:
        for _ in range(3):
            r = await client.get("/captcha/challenge", params={"paredao_id": 1})
            assert r.status_code == 200, r.text
        r = await client.get("/captcha/challenge", params={"paredao_id": 1})
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "20"
        assert r.json()["error"] == "rate_limited"
        clock.advance(seconds=20)
        r = await client.get("/captcha/challenge", params={"paredao_id": 1})
        assert r.status_code == 200
        r = await client.get("/captcha/challenge", params={"paredao_id": 1})
        assert r.status_code == 429


class TestAddressThrottle:
    def test_memory_is_bounded_by_forgetting_the_least_recent_address(self) -> None:
        throttle = AddressThrottle(1, max_addresses=2)
        now = TEST_NOW
        assert throttle.take("a", now) == 0
        assert throttle.take("a", now) == 60
        assert throttle.take("b", now) == 0
        assert throttle.take("c", now) == 0  # "a" is forgotten: it starts afresh
        assert throttle.take("a", now) == 0
        assert throttle.take("c", now) == 60
