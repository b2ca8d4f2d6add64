"""A vote batch's statements on PostgreSQL: the batch is copied once (COPY) into a temporary
table, and every statement after that works on it in bulk: the replays are found by one join,
the votes go in with one `INSERT … SELECT … ON CONFLICT DO NOTHING` that also adds them to the
tally, once per (nominee, mode, hour). Writers run concurrently here, so the statements lock
what they read (paredões shared, budgets in one order) and the tally is split into shards.
"""

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from db.vote_statements import (
    VOTE_COLUMNS,
    Voter,
    cpf_voted,
    nominees_of,
    torcida_votes_since,
)
from model.ballot import Ballot

TALLY_SHARDS = 16
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

# One row per ballot of the batch; emptied by the next batch (and at every commit).
STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS vote_batch ("
    " idx integer NOT NULL, paredao_id integer NOT NULL, vote_id uuid NOT NULL,"
    " nominee_id integer NOT NULL, mode varchar(16) NOT NULL, voter_id varchar(64) NOT NULL,"
    " cpf_hash varchar(64), challenge varchar(128), expires_at timestamptz,"
    " cast_us bigint NOT NULL) ON COMMIT DELETE ROWS"
)
COPY = (
    "COPY vote_batch (idx, paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash,"
    " challenge, expires_at, cast_us) FROM STDIN"
)

STORED = (
    f"SELECT b.idx, {', '.join(f'v.{c}' for c in VOTE_COLUMNS)}"  # noqa: S608
    " FROM vote_batch AS b JOIN votes AS v"
    " ON v.paredao_id = b.paredao_id AND v.vote_id = b.vote_id"
)
# Only the ballots asked about: a join (hashed), not `idx = ANY(…)`, which compares each row
# with the whole list.
STORED_OF = STORED + " JOIN unnest(%s::integer[]) AS w(idx) ON w.idx = b.idx"
# Only the ballots asked about (`idx`), each challenge spent by its first ballot.
SPEND = (
    "WITH asked AS (SELECT DISTINCT ON (challenge) idx, challenge, expires_at FROM vote_batch"
    " JOIN unnest(%s::integer[]) AS w(idx) USING (idx) ORDER BY challenge, idx),"
    " spent AS (INSERT INTO spent_captchas (challenge, expires_at)"
    " SELECT challenge, expires_at FROM asked ORDER BY challenge"
    " ON CONFLICT DO NOTHING RETURNING challenge)"
    " SELECT idx FROM asked WHERE challenge IN (SELECT challenge FROM spent)"
)
# Every ballot of the batch but the `excluded` ones (refused or answered before), in one
# order (concurrent writers meet the unique indexes in the same order: no deadlocks);
# answers the indexes of the ballots NOT inserted.
INSERT = (
    "WITH inserted AS ("
    " INSERT INTO votes (paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash, accepted_at)"
    " SELECT b.paredao_id, b.vote_id, b.nominee_id, b.mode, b.voter_id, b.cpf_hash,"
    " timestamptz 'epoch' + b.cast_us * interval '1 microsecond'"
    " FROM vote_batch AS b LEFT JOIN unnest(%(excluded)s::integer[]) AS x(idx) USING (idx)"
    " WHERE x.idx IS NULL ORDER BY b.paredao_id, b.cpf_hash, b.vote_id"
    " ON CONFLICT DO NOTHING RETURNING paredao_id, vote_id, nominee_id, mode, accepted_at),"
    " counted AS (INSERT INTO vote_tally (paredao_id, nominee_id, mode, hour, shard, votes)"
    " SELECT paredao_id, nominee_id, mode, date_trunc('hour', accepted_at, 'UTC'),"
    " %(shard)s, count(*) FROM inserted GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    " ON CONFLICT (paredao_id, nominee_id, mode, hour, shard)"
    " DO UPDATE SET votes = vote_tally.votes + excluded.votes)"
    " SELECT b.idx FROM vote_batch AS b"
    " LEFT JOIN unnest(%(excluded)s::integer[]) AS x(idx) USING (idx)"
    " WHERE x.idx IS NULL AND NOT EXISTS (SELECT 1 FROM inserted AS i"
    " WHERE i.paredao_id = b.paredao_id AND i.vote_id = b.vote_id)"
)
# The (paredão, voter) of the ballots asked about (`idx`), each locked for the transaction in
# one order (no deadlocks): a concurrent batch of the same voter waits, then counts our votes.
LOCK_VOTERS = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT"
    " hashtextextended(paredao_id || ':' || voter_id, 0) AS k FROM vote_batch"
    " JOIN unnest(%s::integer[]) AS w(idx) USING (idx) ORDER BY k) AS voters"
)
# Their stored votos únicos, through ix_votes_paredao_id_voter_id_unico; a statement of its
# own, after the locks, so that its snapshot sees what the batches waited for committed.
UNICO_VOTES = (
    "SELECT b.paredao_id, b.voter_id, count(*) AS votes FROM"
    " (SELECT DISTINCT paredao_id, voter_id FROM vote_batch"
    " JOIN unnest(%s::integer[]) AS w(idx) USING (idx)) AS b"
    " JOIN votes AS v ON v.paredao_id = b.paredao_id AND v.voter_id = b.voter_id"
    " AND v.mode = 'unico' GROUP BY b.paredao_id, b.voter_id"
)


# COPY's text format: a backslash, tab, newline or carriage return in a value is escaped; \N is
# NULL. Numbers, UUIDs and our modes never hold one; text from outside (voter ids, captcha
# challenges) is escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _copy_line(index: int, b: Ballot) -> str:
    """A ballot's row of `vote_batch` in COPY's text format (written by hand: psycopg's
    `write_row` took 14 % of a consumer's storing thread)."""
    captcha = b.captcha
    challenge, expires = (
        ("\\N", "\\N")
        if captcha is None
        else (_copy_text(captcha.challenge), captcha.expires_at.isoformat())
    )
    cast_us = (b.cast_at - EPOCH) // MICROSECOND
    return (
        f"{index}\t{b.paredao_id}\t{b.vote_id.hex}\t{b.nominee_id}\t{b.mode.value}\t"
        f"{_copy_text(b.voter_id)}\t{_copy_text(b.cpf_hash)}\t{challenge}\t{expires}\t{cast_us}\n"
    )


class PostgresVoteStatements:
    def __init__(self, connection: Connection, ballots: Sequence[Ballot]) -> None:
        self._connection = connection
        self._ballots = ballots
        connection.exec_driver_sql(STAGE)
        connection.exec_driver_sql("DELETE FROM vote_batch")
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(COPY) as copy:
            copy.write("".join(map(_copy_line, range(len(ballots)), ballots)))
        self._all = range(len(ballots))

    def stored_votes(self, indexes: Sequence[int]) -> dict[int, Any]:
        if not indexes:
            return {}
        if len(indexes) == len(self._ballots):  # every ballot: no list to send
            rows = self._connection.exec_driver_sql(STORED)
        else:
            rows = self._connection.exec_driver_sql(STORED_OF, (list(indexes),))
        return {row.idx: row for row in rows}

    def schedules(self, paredao_ids: set[int]) -> dict[int, Any]:
        rows = self._connection.exec_driver_sql(
            "SELECT id, status, opens_at, closes_at FROM paredoes WHERE id = ANY(%s)"
            " ORDER BY id FOR SHARE",
            (sorted(paredao_ids),),
        )
        return {row.id: row for row in rows}

    def nominees(self, paredao_ids: set[int]) -> dict[int, frozenset[int]]:
        return nominees_of(self._connection, paredao_ids)

    def spend_captchas(self, indexes: Sequence[int]) -> set[int]:
        if not indexes:
            return set()
        spent = {row.idx for row in self._connection.exec_driver_sql(SPEND, (list(indexes),))}
        return set(indexes) - spent

    def torcida_budgets(self, voters: Sequence[Voter]) -> dict[Voter, str]:
        budgets: dict[Voter, str] = {}
        for paredao_id in sorted({p for p, _ in voters}):
            ids = sorted(v for p, v in voters if p == paredao_id)
            # Make every voter's row exist, then lock the rows in one order (no deadlocks).
            self._connection.exec_driver_sql(
                "INSERT INTO torcida_budgets (paredao_id, voter_id, recent)"
                " SELECT %s, v, '' FROM unnest(%s::varchar[]) AS t(v) ON CONFLICT DO NOTHING",
                (paredao_id, ids),
            )
            rows = self._connection.exec_driver_sql(
                "SELECT voter_id, recent FROM torcida_budgets"
                " WHERE paredao_id = %s AND voter_id = ANY(%s) ORDER BY voter_id FOR UPDATE",
                (paredao_id, ids),
            )
            budgets.update({(paredao_id, v): recent for v, recent in rows})
        return budgets

    def save_torcida_budgets(self, budgets: Mapping[Voter, str]) -> None:
        if not budgets:
            return
        rows = sorted(budgets.items())
        # The rows exist and are locked (above): one statement with arrays.
        self._connection.exec_driver_sql(
            "UPDATE torcida_budgets AS b SET recent = t.r FROM unnest("
            "%s::integer[], %s::varchar[], %s::varchar[]) AS t(p, v, r)"
            " WHERE b.paredao_id = t.p AND b.voter_id = t.v",
            ([p for (p, _), _ in rows], [v for (_, v), _ in rows], [r for _, r in rows]),
        )

    def insert_counted(self, indexes: Sequence[int]) -> set[int]:
        if not indexes:
            return set()
        wanted = set(indexes)
        excluded = [i for i in self._all if i not in wanted]
        rows = self._connection.exec_driver_sql(
            INSERT, {"excluded": excluded, "shard": secrets.randbelow(TALLY_SHARDS)}
        )
        return {row.idx for row in rows}

    def cpf_voted(self, index: int) -> bool:
        return cpf_voted(self._connection, self._ballots[index])

    def unico_votes_of_voters(self, indexes: Sequence[int]) -> dict[Voter, int]:
        if not indexes:
            return {}
        self._connection.exec_driver_sql(LOCK_VOTERS, (list(indexes),))
        rows = self._connection.exec_driver_sql(UNICO_VOTES, (list(indexes),))
        return {(row.paredao_id, row.voter_id): row.votes for row in rows}

    def torcida_votes_since(self, paredao_id: int, since: datetime) -> list[tuple[str, datetime]]:
        return torcida_votes_since(self._connection, paredao_id, since)
