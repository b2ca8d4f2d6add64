"""The order a batch's votes are inserted in on PostgreSQL (paredão, CPF with NULLs last,
vote_id): the same whether the rows are compared by their bytes or through the key."""

import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from db.copy_rows import EncodedBallots, vote_row
from db.vote_statements_postgres import PostgresVoteStatements, _insert_order
from model.ballot import Ballot
from model.vote import VoteMode

CAST = datetime(2026, 1, 1, tzinfo=UTC)


def ballot(paredao_id: int, vote_id: int, cpf: str | None) -> Ballot:
    mode = VoteMode.torcida if cpf is None else VoteMode.unico
    return Ballot(
        uuid.UUID(int=vote_id), False, paredao_id, 1, mode, f"v{vote_id}", cpf, None, CAST
    )


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, 300]),
            st.integers(min_value=0, max_value=2**128 - 1),
            st.none() | st.sampled_from(["a" * 64, "b" * 64, "0" * 64]),
        ),
        max_size=40,
        unique_by=lambda t: (t[0], t[1]),  # a batch holds a vote_id once per paredão
    ),
    st.booleans(),
)
def test_rows_sorted_by_their_bytes_keep_the_insert_order(
    votes: list[tuple[int, int, str | None]], one_paredao: bool
) -> None:
    ballots = [ballot(1 if one_paredao else p, v, c) for p, v, c in votes]
    ballots = list({(b.paredao_id, b.vote_id): b for b in ballots}.values())
    indexes = list(range(len(ballots)))
    expected = sorted(indexes, key=lambda i: _insert_order(ballots[i]))
    encoded = EncodedBallots(ballots, [vote_row(b) for b in ballots])
    assert PostgresVoteStatements(None, encoded).insert_sorted(indexes) == expected  # type: ignore[arg-type]
    assert PostgresVoteStatements(None, ballots).insert_sorted(indexes) == expected  # type: ignore[arg-type]
