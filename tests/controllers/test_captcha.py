"""The proof of work gets harder while challenges are in demand, and easier again after."""

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from altcha.v1 import solve_challenge
from pydantic import ValidationError

from config import Settings
from services.difficulty import CaptchaDifficulty
from tests.conftest import SECRET_KEY, TEST_NOW, Clock, IsolatedSettings


def controller(**overrides: Any) -> CaptchaDifficulty:
    fields: dict[str, Any] = {"raise_above_per_s": 2, "max_doublings": 3, "window_s": 10}
    fields.update(overrides)
    return CaptchaDifficulty(1000, **fields)


class TestCaptchaDifficulty:
    def test_at_or_below_the_threshold_the_base_difficulty(self) -> None:
        difficulty = controller()
        clock = Clock(TEST_NOW)
        for _ in range(10):  # 2 a second over the 10 s window: exactly the threshold
            assert difficulty.issue(clock()) == 1000
            assert difficulty.issue(clock()) == 1000
            clock.advance(seconds=1)
        assert difficulty.rate_per_s(clock()) == 1.8  # the oldest second has left the window

    def test_each_doubling_of_the_rate_doubles_it_up_to_the_cap(self) -> None:
        difficulty = controller()
        issued = [difficulty.issue(TEST_NOW) for _ in range(200)]
        # 21-40 challenges in 10 s: up to 4/s, one doubling; 41-80: two; then the cap (3).
        assert issued[19] == 1000
        assert issued[20] == issued[39] == 2000
        assert issued[40] == issued[79] == 4000
        assert issued[80] == issued[199] == 8000
        assert difficulty.current(TEST_NOW) == 8000

    def test_it_falls_back_as_the_burst_leaves_the_window(self) -> None:
        difficulty = controller()
        for _ in range(80):
            difficulty.issue(TEST_NOW)
        assert difficulty.current(TEST_NOW + timedelta(seconds=9)) == 4000
        assert difficulty.current(TEST_NOW + timedelta(seconds=10)) == 1000
        assert difficulty.rate_per_s(TEST_NOW + timedelta(seconds=10)) == 0

    def test_a_clock_stepping_back_counts_in_the_latest_second(self) -> None:
        difficulty = controller()
        for _ in range(30):
            difficulty.issue(TEST_NOW)
        assert difficulty.issue(TEST_NOW - timedelta(seconds=5)) == 2000
        assert difficulty.rate_per_s(TEST_NOW) == 3.1

    def test_no_doublings_is_a_fixed_difficulty(self) -> None:
        difficulty = controller(max_doublings=0)
        assert {difficulty.issue(TEST_NOW) for _ in range(1000)} == {1000}

    def test_a_cap_past_the_largest_solution_taken_does_not_start(self) -> None:
        with pytest.raises(ValidationError, match="past the largest solution taken"):
            IsolatedSettings(
                PAREDAO_SECRET_KEY=SECRET_KEY,
                PAREDAO_CAPTCHA_MAX_NUMBER=10**8,
                PAREDAO_CAPTCHA_MAX_DOUBLINGS=4,
            )


class TestChallengeDifficulty:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={
                "captcha_per_minute": 1000,
                "captcha_raise_above_per_s": 1,
                "captcha_rate_window_s": 10,
                "captcha_max_doublings": 2,
            }
        )

    async def challenge(self, client: httpx.AsyncClient, paredao_id: int) -> dict[str, Any]:
        r = await client.get("/captcha/challenge", params={"paredao_id": paredao_id})
        assert r.status_code == 200, r.text
        challenge: dict[str, Any] = r.json()
        return challenge

    async def test_maxnumber_rises_with_the_challenge_rate_and_falls_back(
        self, client: httpx.AsyncClient, open_paredao: Any, clock: Clock
    ) -> None:
        p = await open_paredao(require_captcha=True)
        issued = [(await self.challenge(client, p["id"]))["maxnumber"] for _ in range(25)]
        assert issued[:10] == [2000] * 10  # 1 a second over 10 s: the threshold
        assert issued[10:20] == [4000] * 10
        assert issued[20:] == [8000] * 5  # the cap: two doublings

        # A harder challenge is solved and votes like any other.
        c = await self.challenge(client, p["id"])
        assert c["maxnumber"] == 8000
        solution = solve_challenge(c["challenge"], c["salt"], c["algorithm"], c["maxnumber"])
        assert solution is not None
        payload = {key: c[key] for key in ("algorithm", "challenge", "salt", "signature")}
        token = base64.b64encode(json.dumps({**payload, "number": solution.number}).encode())
        body = {
            "nominee_id": p["nominees"][0]["candidate_id"],
            "mode": "torcida",
            "voter_id": "v",
            "captcha_token": token.decode(),
        }
        assert (await client.post(f"/paredoes/{p['id']}/votes", json=body)).status_code == 202

        clock.advance(seconds=10)  # the burst has left the window
        assert (await self.challenge(client, p["id"]))["maxnumber"] == 2000
