from datetime import UTC, date, datetime, timedelta

import pytest

from model.candidate import CandidateStatus, age_on, check_status_change
from model.errors import WrongTransition
from model.paredao import ParedaoStatus, check_transition, effective_status

NOW = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class TestAge:
    @pytest.mark.parametrize(
        ("born", "today", "age"),
        [
            (date(2008, 11, 21), date(2026, 11, 21), 18),
            (date(2008, 11, 22), date(2026, 11, 21), 17),
            (date(2008, 2, 29), date(2026, 2, 28), 17),
            (date(2008, 2, 29), date(2026, 3, 1), 18),
        ],
    )
    def test_whole_years(self, born: date, today: date, age: int) -> None:
        assert age_on(born, today) == age


class TestCandidateStatus:
    @pytest.mark.parametrize(
        ("current", "new"),
        [
            (CandidateStatus.applicant, CandidateStatus.housemate),
            (CandidateStatus.housemate, CandidateStatus.eliminated),
            (CandidateStatus.eliminated, CandidateStatus.housemate),
            (CandidateStatus.winner, CandidateStatus.winner),
        ],
    )
    def test_allowed_changes_raise_nothing(
        self, current: CandidateStatus, new: CandidateStatus
    ) -> None:
        """The check's whole answer is whether it raises: an allowed change returns quietly."""
        assert check_status_change(current, new) is None  # type: ignore[func-returns-value]

    @pytest.mark.parametrize(
        ("current", "new"),
        [
            (CandidateStatus.applicant, CandidateStatus.winner),
            (CandidateStatus.winner, CandidateStatus.housemate),
            (CandidateStatus.housemate, CandidateStatus.applicant),
        ],
    )
    def test_refused(self, current: CandidateStatus, new: CandidateStatus) -> None:
        with pytest.raises(WrongTransition):
            check_status_change(current, new)


class TestEffectiveStatus:
    @pytest.mark.parametrize(
        ("stored", "opens_at", "closes_at", "expected"),
        [
            (ParedaoStatus.scheduled, None, None, ParedaoStatus.scheduled),
            (ParedaoStatus.scheduled, NOW + HOUR, None, ParedaoStatus.scheduled),
            (ParedaoStatus.scheduled, NOW, None, ParedaoStatus.open),  # opens_at is inclusive
            (ParedaoStatus.scheduled, NOW - HOUR, NOW + HOUR, ParedaoStatus.open),
            (ParedaoStatus.scheduled, NOW - HOUR, NOW, ParedaoStatus.closed),  # closes_at is not
            (ParedaoStatus.open, NOW - HOUR, None, ParedaoStatus.open),
            (ParedaoStatus.open, NOW - HOUR, NOW - HOUR / 2, ParedaoStatus.closed),
            (ParedaoStatus.closed, NOW - HOUR, NOW + HOUR, ParedaoStatus.closed),
        ],
    )
    def test_schedule_applies(
        self,
        stored: ParedaoStatus,
        opens_at: datetime | None,
        closes_at: datetime | None,
        expected: ParedaoStatus,
    ) -> None:
        assert effective_status(stored, opens_at, closes_at, NOW) == expected

    def test_transitions(self) -> None:
        check_transition(ParedaoStatus.scheduled, ParedaoStatus.open)
        check_transition(ParedaoStatus.open, ParedaoStatus.closed)
        for current, new in [
            (ParedaoStatus.scheduled, ParedaoStatus.closed),
            (ParedaoStatus.open, ParedaoStatus.open),
            (ParedaoStatus.closed, ParedaoStatus.open),
            (ParedaoStatus.closed, ParedaoStatus.closed),
        ]:
            with pytest.raises(WrongTransition):
                check_transition(current, new)
