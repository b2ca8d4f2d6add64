import base64
import dataclasses
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import ClassVar

import pytest
from altcha.v1 import solve_challenge
from hypothesis import given, settings
from hypothesis import strategies as st

from model.ballot import Accepted, Ballot
from model.captcha import new_challenge, verify
from model.cpf import cpf_hash, normalize_cpf
from model.errors import CaptchaFailed, InvalidCPF
from model.paredao import OutcomeKind, ParedaoKind
from model.ratelimit import admit, admit_in_order
from model.results import (
    decide,
    final_percentages,
    mode_percentages,
    round_half_up,
    tally,
    weights_of,
)
from model.vote import VoteMode, VoteStatus
from tests.conftest import cpf
from views.api.votes import VoteAccepted, accepted_json

NOW = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
PAREDAO = 7
F = Fraction


class TestCPF:
    @pytest.mark.parametrize("raw", ["529.982.247-25", "52998224725"])
    def test_valid_bare_or_masked(self, raw: str) -> None:
        assert normalize_cpf(raw) == "52998224725"

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("529.982.247-26", "check digits"),
            ("529.982.247-35", "check digits"),
            ("111.111.111-11", "repeated"),
            ("000.000.000-00", "repeated"),
            ("5299822472", "11 digits"),
            ("529982247255", "11 digits"),
            ("52998224a25", "11 digits"),
            ("٥٢٩٩٨٢٢٤٧٢٥", "11 digits"),  # Arabic-Indic digits are digits, not CPF digits
            # Nothing but the 11 digits or the whole mask: no sign, space or stray separator.
            ("-52998224725", "11 digits"),
            ("+52998224725", "11 digits"),
            (" 529 982 247 25 ", "11 digits"),
            ("52998224725\n", "11 digits"),
            ("529.982.247-25 ", "11 digits"),
            ("529982247-25", "11 digits"),
            ("529.982.24725", "11 digits"),
            ("529/982/247-25", "11 digits"),
            ("529-982-247.25", "11 digits"),
            ("529..982.247-25", "11 digits"),
        ],
    )
    def test_invalid(self, raw: str, reason: str) -> None:
        with pytest.raises(InvalidCPF, match=reason):
            normalize_cpf(raw)

    def test_generated_cpfs_are_valid(self) -> None:
        """The tests' CPF maker gives CPFs the rules take: their 11 digits, unmasked."""
        for seed in range(0, 10**9, 7_777_777):
            masked = cpf(seed)
            assert normalize_cpf(masked) == re.sub(r"\D", "", masked)

    def test_hash_is_keyed_and_scoped_to_the_paredao(self) -> None:
        digits = "52998224725"
        h = cpf_hash(b"key", 1, digits)
        assert digits not in h and len(h) == 64
        assert h == cpf_hash(b"key", 1, digits)
        assert h != cpf_hash(b"other", 1, digits)
        assert h != cpf_hash(b"key", 2, digits)


class TestPercentages:
    def test_bbb25_fourth_paredao(self) -> None:
        # único 11.86 / 52.38 / 35.76 and torcida 4.76 / 45.24 / 50.00, 50/50.
        per_mode = {
            VoteMode.unico: {1: F("11.86"), 2: F("52.38"), 3: F("35.76")},
            VoteMode.torcida: {1: F("4.76"), 2: F("45.24"), 3: F("50.00")},
        }
        final = final_percentages(per_mode, weights_of(0.5))
        assert final is not None
        assert [round_half_up(final[n]) for n in (1, 2, 3)] == [8.31, 48.81, 42.88]

    def test_from_counts(self) -> None:
        counts = {(1, VoteMode.unico): 1, (2, VoteMode.unico): 3, (1, VoteMode.torcida): 2}
        rows = tally([1, 2], counts, 0.5)
        assert [r.percent[VoteMode.unico] for r in rows] == [25, 75]
        assert [r.percent[VoteMode.torcida] for r in rows] == [100, 0]
        assert [r.final for r in rows] == [F(125, 2), F(75, 2)]
        assert rows[0].votes == {VoteMode.unico: 1, VoteMode.torcida: 2}

    def test_mode_without_votes_drops_out_and_weights_renormalise(self) -> None:
        counts = {(1, VoteMode.torcida): 1, (2, VoteMode.torcida): 3}
        rows = tally([1, 2], counts, 0.7)
        assert [r.percent[VoteMode.unico] for r in rows] == [None, None]
        assert [r.final for r in rows] == [25, 75]

    def test_zero_weight_mode_does_not_count(self) -> None:
        counts = {(1, VoteMode.unico): 1, (2, VoteMode.torcida): 1}
        rows = tally([1, 2], counts, 0.0)
        assert [r.final for r in rows] == [0, 100]

    def test_no_votes_at_all(self) -> None:
        rows = tally([1, 2], {}, 0.5)
        assert [r.final for r in rows] == [None, None]
        assert mode_percentages({1: 0, 2: 0}) is None

    def test_weights_are_exact(self) -> None:
        assert weights_of(0.7) == {VoteMode.unico: F(7, 10), VoteMode.torcida: F(3, 10)}

    @pytest.mark.parametrize(
        ("value", "rounded"),
        [
            (F("12.345"), 12.35),
            (F("12.344999"), 12.34),
            (F("0.125"), 0.13),
            (F(200, 3), 66.67),
            (F(100, 3), 33.33),
            (F("0.005"), 0.01),
            (F(100), 100.0),
        ],
    )
    def test_round_half_up(self, value: Fraction, rounded: float) -> None:
        assert round_half_up(value) == rounded


class TestOutcome:
    finals: ClassVar[dict[int, Fraction]] = {1: F(20), 2: F(50), 3: F(30)}

    def test_eliminate_takes_the_highest(self) -> None:
        o = decide(ParedaoKind.eliminate, self.finals, [1, 2, 3])
        assert (o.kind, o.candidate_id) == (OutcomeKind.eliminated, 2)

    def test_save_takes_the_lowest(self) -> None:
        o = decide(ParedaoKind.save, self.finals, [1, 2, 3])
        assert (o.kind, o.candidate_id) == (OutcomeKind.eliminated, 1)

    def test_final_crowns_the_highest(self) -> None:
        o = decide(ParedaoKind.final, self.finals, [1, 2, 3])
        assert (o.kind, o.candidate_id) == (OutcomeKind.winner, 2)

    def test_tie_is_never_broken(self) -> None:
        o = decide(ParedaoKind.eliminate, {1: F(40), 2: F(40), 3: F(20)}, [1, 2, 3])
        assert (o.kind, o.candidate_id, o.tied) == (OutcomeKind.tie, None, (1, 2))

    def test_tie_is_decided_on_exact_values_not_rounded_ones(self) -> None:
        o = decide(ParedaoKind.eliminate, {1: F(100001, 2000), 2: F(99999, 2000)}, [1, 2])
        assert round_half_up(F(100001, 2000)) == round_half_up(F(99999, 2000)) == 50.0
        assert (o.kind, o.candidate_id) == (OutcomeKind.eliminated, 1)

    def test_no_votes_is_a_tie_of_everyone(self) -> None:
        o = decide(ParedaoKind.eliminate, None, [1, 2])
        assert (o.kind, o.tied) == (OutcomeKind.tie, (1, 2))


class TestRateLimitWindow:
    def test_ten_a_minute_then_refused_until_the_oldest_leaves(self) -> None:
        recent: tuple[int, ...] = ()
        for i in range(10):
            d = admit(recent, 1_000 * i)
            assert d.allowed
            recent = d.recent
        refused = admit(recent, 15_000)
        assert not refused.allowed
        assert refused.retry_after_s == 45  # the vote at t=0 leaves at t=60 s
        assert refused.recent == recent  # a refused vote spends nothing
        assert not admit(recent, 59_999).allowed
        assert admit(recent, 60_000).allowed

    def test_sliding_not_fixed_window(self) -> None:
        recent = tuple(range(50_000, 60_000, 1_000))  # 10 votes late in a minute
        assert not admit(recent, 61_000).allowed  # a fixed window would have reset here

    def test_retry_after_is_at_least_one_second(self) -> None:
        recent = tuple(range(10))
        assert admit(recent, 59_999).retry_after_s == 1  # 1 ms left, rounded up

    @settings(max_examples=500)
    @given(
        st.lists(
            st.tuples(st.sampled_from("ab"), st.integers(min_value=0, max_value=150_000)),
            max_size=40,
        )
    )
    def test_a_batch_in_order_decides_each_vote_as_admit_does(
        self, votes: list[tuple[str, int]]
    ) -> None:
        # One vote at a time through `admit`, as the rule reads...
        recent: dict[str, tuple[int, ...]] = {}
        refused: dict[int, int] = {}
        for i, (voter, at) in enumerate(votes):
            d = admit(recent.get(voter, ()), at)
            if d.allowed:
                recent[voter] = d.recent
            else:
                refused[i] = d.retry_after_s
        # ...and the batch's loop, times out of order included: the same answers and windows.
        batch: dict[str, tuple[int, ...]] = {}
        assert admit_in_order(batch, [(i, v, at) for i, (v, at) in enumerate(votes)]) == refused
        assert batch == recent


class TestCaptcha:
    key = b"secret"

    def token(self, challenge: dict[str, object], number: int | None = None) -> str:
        if number is None:
            solution = solve_challenge(
                str(challenge["challenge"]),
                str(challenge["salt"]),
                "SHA-256",
                int(str(challenge["maxnumber"])),
            )
            assert solution is not None
            number = solution.number
        payload = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
        payload["number"] = number
        return base64.b64encode(json.dumps(payload).encode()).decode()

    def test_solved_challenge_verifies(self) -> None:
        c = new_challenge(self.key, 1000, NOW + timedelta(minutes=5), PAREDAO)
        solved = verify(self.token(c), self.key, NOW, PAREDAO)
        assert solved.challenge == c["challenge"]
        assert solved.expires_at == (NOW + timedelta(minutes=5)).replace(microsecond=0)

    def test_a_token_solved_for_one_paredao_is_refused_in_another(self) -> None:
        c = new_challenge(self.key, 1000, NOW + timedelta(minutes=5), PAREDAO)
        token = self.token(c)
        assert verify(token, self.key, NOW, PAREDAO).challenge == c["challenge"]
        with pytest.raises(CaptchaFailed, match="another paredão"):
            verify(token, self.key, NOW, PAREDAO + 1)

    def test_wrong_number_key_expiry_and_garbage_fail(self) -> None:
        c = new_challenge(self.key, 1000, NOW + timedelta(minutes=5), PAREDAO)
        good = self.token(c)
        with pytest.raises(CaptchaFailed, match="wrong"):
            verify(self.token(c, number=100_000), self.key, NOW, PAREDAO)
        with pytest.raises(CaptchaFailed, match="wrong"):
            verify(good, b"another key", NOW, PAREDAO)
        with pytest.raises(CaptchaFailed, match="expired"):
            verify(good, self.key, NOW + timedelta(minutes=5), PAREDAO)
        for bad in ("", None, "not base64!", base64.b64encode(b"[1, 2]").decode()):
            with pytest.raises(CaptchaFailed):
                verify(bad, self.key, NOW, PAREDAO)

    def payload(self, **changes: object) -> str:
        """A solved token of ours with `changes` applied to its JSON fields."""
        c = new_challenge(self.key, 1000, NOW + timedelta(minutes=5), PAREDAO)
        fields = json.loads(base64.b64decode(self.token(c)))
        fields.update(changes)
        return base64.b64encode(json.dumps(fields).encode()).decode()

    @pytest.mark.parametrize(
        "changes",
        [
            {"salt": 12345},
            {"salt": ["a", "b"]},
            {"salt": {"expires": 1}},
            {"salt": "x?expires=100000000000000000000"},
            {"salt": "é?expires=1"},
            {"number": "12"},
            {"number": True},
            {"number": 1.5},
            {"number": 10**30},
            {"number": -1},
            {"challenge": None},
            {"challenge": ["x"]},
            {"signature": 7},
            {"signature": "é"},
            {"algorithm": "SHA-1"},
        ],
    )
    def test_forged_fields_are_refused_before_they_are_trusted(
        self, changes: dict[str, object]
    ) -> None:
        with pytest.raises(CaptchaFailed):
            verify(self.payload(**changes), self.key, NOW, PAREDAO)

    @pytest.mark.parametrize("expires", ["100000000000000000000", "-5", "1e9", "", "soon"])
    def test_a_signed_salt_with_an_impossible_expiry_is_refused(self, expires: str) -> None:
        # Signed with our own key, so it passes the signature and the proof of work: the
        # expiry is read only then, and still never trusted to be a time a clock can hold.
        salt = f"abc?expires={expires}&paredao={PAREDAO}&"
        challenge = hashlib.sha256(f"{salt}7".encode()).hexdigest()
        signature = hmac.new(self.key, challenge.encode(), hashlib.sha256).hexdigest()
        token = self.payload(salt=salt, number=7, challenge=challenge, signature=signature)
        with pytest.raises(CaptchaFailed, match="no expiry"):
            verify(token, self.key, NOW, PAREDAO)

    def test_deep_or_huge_json_is_malformed(self) -> None:
        for raw in (b"[" * 100_000, b'{"number": 1' + b"0" * 5000 + b"}"):
            with pytest.raises(CaptchaFailed, match="malformed"):
                verify(base64.b64encode(raw).decode(), self.key, NOW, PAREDAO)


class TestAcceptedJson:
    @pytest.mark.parametrize("microsecond", [0, 1, 123456])
    def test_same_bytes_as_the_model(self, microsecond: int) -> None:
        accepted = Accepted(
            uuid.uuid4(), 7, 3, VoteMode.unico, NOW.replace(microsecond=microsecond)
        )
        assert accepted_json(accepted) == VoteAccepted.of(accepted).model_dump_json().encode()


class TestAcceptedOf:
    """`Accepted.of` builds the answer without `__init__`: the same answer as `__init__`'s."""

    @pytest.mark.parametrize("mode", [VoteMode.unico, VoteMode.torcida, "unico", "torcida"])
    @pytest.mark.parametrize("replay", [False, True])
    @pytest.mark.parametrize("status", list(VoteStatus))
    def test_same_answer_as_the_constructor(
        self, mode: VoteMode | str, replay: bool, status: VoteStatus
    ) -> None:
        vote_id = uuid.uuid4()
        # A ballot, or a stored vote's row, whose mode is its stored text.
        vote = Ballot(vote_id, True, 7, 3, mode, "v", None, None, NOW)  # type: ignore[arg-type]
        made = Accepted.of(vote, NOW, replay=replay, status=status)
        expected = Accepted(vote_id, 7, 3, VoteMode(mode), NOW, replay, status)
        assert made == expected
        assert vars(made) == vars(expected)
        assert type(made.mode) is VoteMode
        assert hash(made) == hash(expected)
        assert repr(made) == repr(expected)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.replay = not replay  # type: ignore[misc]
        assert dataclasses.replace(made, replay=True) == dataclasses.replace(expected, replay=True)

    def test_an_unknown_mode_is_refused(self) -> None:
        vote = Ballot(uuid.uuid4(), True, 7, 3, "both", "v", None, None, NOW)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="both"):
            Accepted.of(vote, NOW)
