"""A vote batch's statements on PostgreSQL: the votes are COPYed straight into `votes` (binary
rows from `db.copy_rows`) and tallied once per (nominee, mode, hour); lookups are one index
probe per value. Where a batch needs a join (captchas to spend, a unique index met all the
same), it is copied once into a temporary table and worked on in bulk. Writers run
concurrently here, so the statements lock what they read (paredões shared, budgets in one
order) and the tally is split into shards.
"""

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import Connection

from db.copy_rows import EncodedBallots, TallyKey, binary_votes, text_rows, vote_row
from db.vote_statements import VOTE_COLUMNS, Voter, nominees_of, torcida_votes_since
from model.ballot import Ballot

TALLY_SHARDS = 16

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

# The stored votes of these vote_ids in one paredão (a few: clients' vote_ids, refused
# ballots). Here and below, each element is looked up by itself through an index (LATERAL,
# with a LIMIT, so that the planner cannot turn it into a join): a paredão's partition fills
# faster than its statistics follow, and with an array joined, compared by `= ANY` or in
# EXISTS, the planner, believing the partition small, read all of it for each batch.
STORED_OF = (
    f"SELECT {', '.join(f'v.{c}' for c in VOTE_COLUMNS)}"  # noqa: S608
    " FROM unnest(%b::uuid[]) AS w(vote_id) CROSS JOIN LATERAL"
    " (SELECT * FROM votes WHERE paredao_id = %s AND vote_id = w.vote_id LIMIT 1) AS v"
)
# Only the ballots asked about (`idx`), each challenge spent by its first ballot.
SPEND = (
    "WITH asked AS (SELECT DISTINCT ON (challenge) idx, challenge, expires_at FROM vote_batch"
    " JOIN unnest(%b::integer[]) AS w(idx) USING (idx) ORDER BY challenge, idx),"
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
    " FROM vote_batch AS b LEFT JOIN unnest(%(excluded)b::integer[]) AS x(idx) USING (idx)"
    " WHERE x.idx IS NULL ORDER BY b.paredao_id, b.cpf_hash, b.vote_id"
    " ON CONFLICT DO NOTHING RETURNING paredao_id, vote_id, nominee_id, mode, accepted_at),"
    " counted AS (INSERT INTO vote_tally (paredao_id, nominee_id, mode, hour, shard, votes)"
    " SELECT paredao_id, nominee_id, mode, date_trunc('hour', accepted_at, 'UTC'),"
    " %(shard)s, count(*) FROM inserted GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    " ON CONFLICT (paredao_id, nominee_id, mode, hour, shard)"
    " DO UPDATE SET votes = vote_tally.votes + excluded.votes)"
    " SELECT b.idx FROM vote_batch AS b"
    " LEFT JOIN unnest(%(excluded)b::integer[]) AS x(idx) USING (idx)"
    " WHERE x.idx IS NULL AND NOT EXISTS (SELECT 1 FROM inserted AS i"
    " WHERE i.paredao_id = b.paredao_id AND i.vote_id = b.vote_id)"
)
# These voters of one paredão, each locked for the transaction in one order (paredão, then
# key: no deadlocks): a concurrent batch of the same voter waits, then counts our votes.
LOCK_VOTERS = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT"
    " hashtextextended(%s::integer || ':' || v, 0) AS k FROM unnest(%b::varchar[]) AS w(v)"
    " ORDER BY k) AS voters"
)
# Their stored votos únicos, through ix_votes_paredao_id_voter_id_unico; a statement of its
# own, after the locks, so that its snapshot sees what the batches waited for committed.
UNICO_VOTES = (
    "SELECT w.v AS voter_id, x.votes FROM unnest(%b::varchar[]) AS w(v) CROSS JOIN LATERAL"
    " (SELECT count(*) AS votes FROM votes WHERE paredao_id = %s AND mode = 'unico'"
    " AND voter_id = w.v) AS x WHERE x.votes > 0"
)
# Which of these CPFs (hashed) of one paredão voted already; which of these accounts (jwt
# mode's voter_ids) cast their voto único already: through the unique indexes.
CPFS_VOTED = (
    "SELECT x.cpf_hash FROM unnest(%b::varchar[]) AS w(cpf) CROSS JOIN LATERAL"
    " (SELECT cpf_hash FROM votes WHERE paredao_id = %s AND cpf_hash = w.cpf LIMIT 1) AS x"
)
ACCOUNTS_VOTED = (
    "SELECT x.voter_id FROM unnest(%b::varchar[]) AS w(v) CROSS JOIN LATERAL"
    " (SELECT voter_id FROM votes WHERE paredao_id = %s AND mode = 'unico'"
    " AND voter_id LIKE 'sub:%%' AND voter_id = w.v LIMIT 1) AS x"
)
# A batch known to meet no unique index goes straight into `votes` (no staging, no
# ON CONFLICT), in COPY's binary format (no text to format here, none to parse there); its
# tally is counted here and added once per (nominee, mode, hour).
COPY_VOTES = f"COPY votes ({', '.join(VOTE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
ADD_TALLY = (
    "INSERT INTO vote_tally (paredao_id, nominee_id, mode, hour, shard, votes)"
    " SELECT p, n, m, timestamptz '2000-01-01 00:00:00+00' + h * interval '1 hour', %s, c"
    " FROM unnest(%b::integer[], %b::integer[], %b::varchar[], %b::integer[], %b::integer[])"
    " AS t(p, n, m, h, c) ORDER BY 1, 2, 3, 4"
    " ON CONFLICT (paredao_id, nominee_id, mode, hour, shard)"
    " DO UPDATE SET votes = vote_tally.votes + excluded.votes"
)


def _insert_order(b: Ballot) -> tuple[int, bool, str, int]:
    """The order every writer inserts a batch's votes in (as `INSERT`'s ORDER BY: paredão,
    CPF with NULLs last, vote_id), so concurrent writers meet the unique indexes in the same
    order: no deadlocks."""
    return (b.paredao_id, b.cpf_hash is None, b.cpf_hash or "", b.vote_id.int)


class PostgresVoteStatements:
    def __init__(self, connection: Connection, ballots: Sequence[Ballot]) -> None:
        self._connection = connection
        self._ballots = ballots
        self._staged = False
        self._all = range(len(ballots))

    def _raw(self) -> Any:
        raw = self._connection.connection.driver_connection
        assert raw is not None
        return raw

    def _stage(self) -> None:
        """Copy the whole batch into `vote_batch` (once), for the statements that join it."""
        if self._staged:
            return
        self._connection.exec_driver_sql(STAGE)
        self._connection.exec_driver_sql("DELETE FROM vote_batch")
        with self._raw().cursor() as cursor, cursor.copy(COPY) as copy:
            copy.write(text_rows(self._ballots))
        self._staged = True

    def _by_paredao(self, indexes: Iterable[int]) -> dict[int, list[int]]:
        ballots = self._ballots
        groups: dict[int, list[int]] = {}
        for i in indexes:
            groups.setdefault(ballots[i].paredao_id, []).append(i)
        return dict(sorted(groups.items()))

    def stored_votes(self, indexes: Sequence[int]) -> dict[int, Any]:
        ballots = self._ballots
        found: dict[int, Any] = {}
        for paredao_id, wanted in self._by_paredao(indexes).items():
            rows = self._connection.exec_driver_sql(
                STORED_OF, ([ballots[i].vote_id for i in wanted], paredao_id)
            )
            by_id = {row.vote_id: row for row in rows}
            found.update(
                {i: by_id[ballots[i].vote_id] for i in wanted if ballots[i].vote_id in by_id}
            )
        return found

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
        self._stage()
        spent = {row.idx for row in self._connection.exec_driver_sql(SPEND, (list(indexes),))}
        return set(indexes) - spent

    def torcida_budgets(self, voters: Sequence[Voter]) -> dict[Voter, str]:
        budgets: dict[Voter, str] = {}
        for paredao_id in sorted({p for p, _ in voters}):
            ids = sorted(v for p, v in voters if p == paredao_id)
            # Make every voter's row exist, then lock the rows in one order (no deadlocks).
            self._connection.exec_driver_sql(
                "INSERT INTO torcida_budgets (paredao_id, voter_id, recent)"
                " SELECT %s, v, '' FROM unnest(%b::varchar[]) AS t(v) ON CONFLICT DO NOTHING",
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
            "%b::integer[], %b::varchar[], %b::varchar[]) AS t(p, v, r)"
            " WHERE b.paredao_id = t.p AND b.voter_id = t.v",
            ([p for (p, _), _ in rows], [v for (_, v), _ in rows], [r for _, r in rows]),
        )

    def insert_counted(self, indexes: Sequence[int]) -> set[int]:
        if not indexes:
            return set()
        conflicts = self._unico_conflicts(indexes)
        rows = self.insert_sorted([i for i in indexes if i not in conflicts])
        try:
            with self._connection.begin_nested():
                self._copy_votes(rows)
        except UniqueViolation:
            # Another writer stored one of these since we looked (a CPF voting in two
            # partitions at once), or a vote_id not looked up is stored: rolled back to the
            # savepoint, the batch goes in row by row against the unique indexes.
            return self._insert_on_conflict(indexes)
        return conflicts

    def _insert_key(self, index: int) -> tuple[int, bool, str, int]:
        return _insert_order(self._ballots[index])

    def insert_sorted(self, indexes: list[int]) -> list[int]:
        """These ballots in `_insert_order`. A batch's rows of `votes` made beforehand, of one
        paredão, sort the same by their bytes when they have no CPF (the paredão, then the
        vote_id, big-endian, lead them): those are compared in C, not through a key of ours."""
        ballots = self._ballots
        if (
            not isinstance(ballots, EncodedBallots)
            or len({ballots[i].paredao_id for i in indexes}) > 1
        ):
            return sorted(indexes, key=self._insert_key)
        made = ballots.rows
        with_cpf = [i for i in indexes if ballots[i].cpf_hash is not None]
        without = [i for i in indexes if ballots[i].cpf_hash is None]
        keys = [made[i][0] for i in without]
        return sorted(with_cpf, key=self._insert_key) + [
            without[k] for k in sorted(range(len(without)), key=keys.__getitem__)
        ]

    def _unico_conflicts(self, indexes: Sequence[int]) -> set[int]:
        """The votos únicos of these that would meet a unique index: their CPF (or account)
        stored, or used by one before them in the insert order."""
        ballots = self._ballots
        unicos = sorted(
            (i for i in indexes if ballots[i].cpf_hash is not None), key=self._insert_key
        )
        cpfs: set[tuple[int, str | None]] = set()
        accounts: set[tuple[int, str]] = set()
        for paredao_id, wanted in self._by_paredao(unicos).items():
            rows = self._connection.exec_driver_sql(
                CPFS_VOTED, ([ballots[i].cpf_hash for i in wanted], paredao_id)
            )
            cpfs.update((paredao_id, cpf) for (cpf,) in rows)
            subjects = [
                ballots[i].voter_id for i in wanted if ballots[i].voter_id.startswith("sub:")
            ]
            if subjects:
                rows = self._connection.exec_driver_sql(ACCOUNTS_VOTED, (subjects, paredao_id))
                accounts.update((paredao_id, v) for (v,) in rows)
        conflicts: set[int] = set()
        for i in unicos:
            b = ballots[i]
            account = (b.paredao_id, b.voter_id) if b.voter_id.startswith("sub:") else None
            if (b.paredao_id, b.cpf_hash) in cpfs or account in accounts:
                conflicts.add(i)
                continue
            cpfs.add((b.paredao_id, b.cpf_hash))
            if account is not None:
                accounts.add(account)
        return conflicts

    def _copy_votes(self, indexes: Sequence[int]) -> None:
        """COPY these ballots into `votes` and add them to the tally (they meet no unique
        index, or the COPY fails whole)."""
        if not indexes:
            return
        ballots = self._ballots
        if isinstance(ballots, EncodedBallots):
            made = ballots.rows
            rows = [made[i] for i in indexes]
        else:
            rows = [vote_row(ballots[i]) for i in indexes]
        counts: dict[TallyKey, int] = {}
        with self._raw().cursor() as cursor, cursor.copy(COPY_VOTES) as copy:
            for chunk in binary_votes(rows, counts):
                copy.write(chunk)
        keys = sorted(counts)
        self._connection.exec_driver_sql(
            ADD_TALLY,
            (
                secrets.randbelow(TALLY_SHARDS),
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [k[3] for k in keys],
                [counts[k] for k in keys],
            ),
        )

    def _insert_on_conflict(self, indexes: Sequence[int]) -> set[int]:
        self._stage()
        wanted = set(indexes)
        excluded = [i for i in self._all if i not in wanted]
        rows = self._connection.exec_driver_sql(
            INSERT, {"excluded": excluded, "shard": secrets.randbelow(TALLY_SHARDS)}
        )
        return {row.idx for row in rows}

    def cpfs_voted(self, indexes: Sequence[int]) -> set[int]:
        ballots = self._ballots
        voted: set[int] = set()
        for paredao_id, wanted in self._by_paredao(indexes).items():
            rows = self._connection.exec_driver_sql(
                CPFS_VOTED, ([ballots[i].cpf_hash for i in wanted], paredao_id)
            )
            cpfs = {cpf for (cpf,) in rows}
            voted.update(i for i in wanted if ballots[i].cpf_hash in cpfs)
        return voted

    def unico_votes_of_voters(self, indexes: Sequence[int]) -> dict[Voter, int]:
        counts: dict[Voter, int] = {}
        for paredao_id, wanted in self._by_paredao(indexes).items():
            voters = sorted({self._ballots[i].voter_id for i in wanted})
            # Two statements (the count's snapshot taken after the locks), one round trip.
            raw = self._raw()
            with raw.pipeline(), raw.cursor() as cursor:
                cursor.execute(LOCK_VOTERS, (paredao_id, voters))
                cursor.execute(UNICO_VOTES, (voters, paredao_id))
                rows = cursor.fetchall()
            counts.update({(paredao_id, voter_id): votes for voter_id, votes in rows})
        return counts

    def torcida_votes_since(self, paredao_id: int, since: datetime) -> list[tuple[str, datetime]]:
        return torcida_votes_since(self._connection, paredao_id, since)
