"""Storing a batch of votes in one transaction, and deciding each vote's fate inside it.

Everything that decides whether a vote counts (the voting window, replays, the captcha, the
rate limit, one CPF per paredão, the votos únicos of a device) is decided here, once for both
databases and both paths, inside the transaction that stores the vote, so that an
acknowledged vote is always counted and a refused one never is. The SQL each decision needs
is the database's own (`db.vote_statements`); where the torcida limit is kept is the
caller's (`db.torcida`).
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import SQLModel

from db.device_limit import DeviceLimit, device_refusal
from db.torcida import StoredBudgets, TorcidaLimit
from db.vote_statements import (
    BUDGETS,
    SPENT,
    TALLY,
    VOTES,
    UnexpectedReplay,
    Voter,
    for_batch,
    hour_of,
    upsert,
)
from model.ballot import Accepted, Ballot
from model.errors import (
    AccountAlreadyVoted,
    CaptchaFailed,
    CPFAlreadyVoted,
    DomainError,
    Invalid,
    NotFound,
    RateLimited,
    VoteIdReused,
    VotingNotOpen,
)
from model.paredao import ParedaoStatus, status_at_cast
from model.ratelimit import TORCIDA_LIMIT
from model.vote import VoteMode, VoteRefusal

__all__ = ["BUDGETS", "SPENT", "TALLY", "VOTES", "UnexpectedReplay", "hour_of", "upsert"]

Outcome = Accepted | DomainError


class Counted:
    """A ballot stored as a new vote by this batch (its `Accepted` is the ballot itself)."""


COUNTED = Counted()
Decision = Accepted | DomainError | Counted


_STORED_BUDGETS = StoredBudgets()
# Read once: an enum member read off its class costs ~200 ns, and a batch asks per ballot.
TORCIDA, UNICO = VoteMode.torcida, VoteMode.unico


def _replay_outcome(ballot: Ballot, row: Any) -> Outcome:
    same = (row.nominee_id, row.mode, row.voter_id, row.cpf_hash) == (
        ballot.nominee_id,
        ballot.mode,
        ballot.voter_id,
        ballot.cpf_hash,
    )
    if same:
        return Accepted.of(row, row.accepted_at, replay=True)
    return _reused(ballot)


def _reused(ballot: Ballot) -> VoteIdReused:
    return VoteIdReused(f"vote_id {ballot.vote_id} was already used for a different vote")


def _cpf_refusal(ballot: Ballot) -> CPFAlreadyVoted:
    return CPFAlreadyVoted(f"this CPF already voted in paredão {ballot.paredao_id}")


def _unico_conflict(cpf_voted: bool, ballot: Ballot) -> DomainError:
    """Why a voto único was not inserted: its CPF voted in this paredão, or (jwt mode) its
    account did, with another CPF."""
    if cpf_voted:
        return _cpf_refusal(ballot)
    return AccountAlreadyVoted(
        f"this account already cast its voto único in paredão {ballot.paredao_id}"
    )


def _voter(ballot: Ballot) -> Voter:
    return (ballot.paredao_id, ballot.voter_id)


def decide_batch(
    connection: Connection,
    ballots: Sequence[Ballot],
    torcida: TorcidaLimit = _STORED_BUDGETS,
    *,
    look_up_every_vote_id: bool = False,
    check_refused_vote_ids: bool = False,
    unico_per_device: int | None = None,
) -> list[Decision]:
    """Decide and store a batch of ballots inside the caller's transaction.

    Each ballot is judged at the moment it was cast (`cast_at`: the voting window, the rate
    limit, the hour it counts in), so a vote's fate does not depend on how long it waited.

    A vote_id the server chose is new unless `look_up_every_vote_id`: only the clients' are
    looked up among the stored votes. A ballot not looked up that meets a stored vote of the
    same vote_id when inserted raises `UnexpectedReplay`; with `check_refused_vote_ids`, so
    does one refused before its insert (a record read from a log, which should hold a
    server-chosen vote_id once, but the database, not the producer, is the proof).

    `unico_per_device` (anonymous mode, `PAREDAO_UNICO_PER_DEVICE`): the votos únicos a
    voter_id may cast per paredão, counting those stored and those earlier in the batch;
    None: no such limit (jwt mode, where an account's unique index allows one).

    Returns one decision per ballot, in order: `COUNTED` (stored now as a new vote), an
    `Accepted` replay of a stored vote, or the `DomainError` that refuses it. Nothing here
    commits.
    """
    if not ballots:
        return []
    statements = for_batch(connection, ballots)
    outcomes: list[Decision | None] = [None] * len(ballots)

    # The same vote_id twice in one batch: the later ones answer like the first.
    first_of: dict[tuple[int, int], int] = {}
    echoes: dict[int, int] = {}
    # Replays of stored votes are answered as they were, even after voting closed.
    asked: list[int] = []
    for i, b in enumerate(ballots):
        first = first_of.setdefault((b.paredao_id, b.vote_id.int), i)
        if first != i:
            echoes[i] = first
        elif look_up_every_vote_id or b.client_vote_id:
            asked.append(i)
    for i, row in statements.stored_votes(asked).items():
        outcomes[i] = _replay_outcome(ballots[i], row)

    paredao_ids = {b.paredao_id for b in ballots}
    schedules = statements.schedules(paredao_ids)
    nominees = statements.nominees(paredao_ids)
    windows: dict[int, tuple[ParedaoStatus, Any, Any]] = {}
    for paredao_id, schedule in schedules.items():
        windows[paredao_id] = (
            ParedaoStatus(schedule.status),
            schedule.opens_at,
            schedule.closes_at,
        )
    # A paredão open at the batch's first and at its last cast time is open at every time
    # between (its window is one interval): the usual batch, of one paredão, is not asked
    # ballot by ballot.
    open_throughout: set[int] = set()
    if len(paredao_ids) == 1 and (window := windows.get(b0 := ballots[0].paredao_id)):
        earliest = min(b.cast_at for b in ballots)
        latest = max(b.cast_at for b in ballots)
        if (
            status_at_cast(*window, earliest)
            == ParedaoStatus.open
            == status_at_cast(*window, latest)
        ):
            open_throughout.add(b0)
    # The ballots still to decide, in order: each step below takes out those it refuses.
    todo: list[int] = []
    for i, b in enumerate(ballots):
        if outcomes[i] is not None or i in echoes:
            continue
        window = windows.get(b.paredao_id)
        if window is None:
            outcomes[i] = NotFound(f"paredão {b.paredao_id} does not exist")
        elif b.nominee_id not in nominees[b.paredao_id]:
            # The API checked it; a record in the log may come from elsewhere.
            outcomes[i] = Invalid(
                f"candidate {b.nominee_id} is not a nominee of paredão {b.paredao_id}"
            )
        elif b.paredao_id in open_throughout:
            todo.append(i)
        elif (status := status_at_cast(*window, b.cast_at)) != ParedaoStatus.open:
            outcomes[i] = VotingNotOpen(f"voting in paredão {b.paredao_id} is {status}, not open")
        else:
            todo.append(i)

    with_captcha = [i for i in todo if ballots[i].captcha is not None]
    spent = statements.spend_captchas(with_captcha) if with_captcha else set()
    for i in spent:
        outcomes[i] = CaptchaFailed("this captcha was already used: solve a new one")
    if spent:
        todo = [i for i in todo if i not in spent]

    fans = [i for i in todo if ballots[i].mode == TORCIDA]
    limited = torcida.admit(statements, ballots, fans)
    for i, wait in limited.items():
        outcomes[i] = RateLimited(
            f"at most {TORCIDA_LIMIT} votos da torcida a minute: try again in {wait} s",
            retry_after_s=wait,
        )
    if limited:
        todo = [i for i in todo if i not in limited]

    devices = None
    if unico_per_device is not None:
        unicos = [i for i in todo if ballots[i].mode == UNICO]
        devices = DeviceLimit(unico_per_device, statements.unico_votes_of_voters(unicos))
    candidates = todo
    while candidates:
        admitted, held = (candidates, []) if devices is None else devices.admit(ballots, candidates)
        not_inserted = statements.insert_counted(admitted)
        stored_rows = statements.stored_votes(sorted(not_inserted)) if not_inserted else {}
        # Why the others were not inserted (refused votes only): one read for all of them.
        voted = statements.cpfs_voted(
            [i for i in sorted(not_inserted) if i not in stored_rows and ballots[i].cpf_hash]
        )
        for i in admitted:
            b = ballots[i]
            if i not in not_inserted:
                outcomes[i] = COUNTED
                if devices is not None:
                    devices.stored(b)
                continue
            # Not inserted: another writer stored the same vote_id since we looked
            # (PostgreSQL), or, for a voto único, this CPF (or account) already voted.
            row = stored_rows.get(i)
            if row is not None:
                if not (look_up_every_vote_id or b.client_vote_id):
                    raise UnexpectedReplay(f"vote {b.vote_id} is stored already")
                outcomes[i] = _replay_outcome(b, row)
            elif b.mode == VoteMode.unico:
                outcomes[i] = _unico_conflict(i in voted, b)
            else:
                raise RuntimeError(f"vote {b.vote_id} was neither stored nor in conflict")
        # A voto único held back for an earlier one of its device that was then refused (its
        # CPF had voted) may have room after all: judged again, in order, against what is
        # stored now. The rest are refused: for their CPF if it voted (the plainer answer to
        # one voter sending it twice), else for their device.
        refused_devices = {
            _voter(ballots[i])
            for i in admitted
            if i in not_inserted and ballots[i].mode == VoteMode.unico
        }
        candidates = [i for i in held if _voter(ballots[i]) in refused_devices]
        turned_away = [i for i in held if _voter(ballots[i]) not in refused_devices]
        voted = statements.cpfs_voted(turned_away) if turned_away else set()
        for i in turned_away:
            outcomes[i] = (
                _cpf_refusal(ballots[i])
                if i in voted
                else device_refusal(ballots[i], unico_per_device)
            )

    if check_refused_vote_ids:
        unasked = [
            i
            for i, o in enumerate(outcomes)
            if isinstance(o, DomainError)
            and not (look_up_every_vote_id or ballots[i].client_vote_id)
        ]
        if unasked and statements.stored_votes(unasked):
            raise UnexpectedReplay("a refused vote is stored already")

    for i, first in echoes.items():
        original = outcomes[first]
        if not ballots[i].same_vote_as(ballots[first]):
            outcomes[i] = _reused(ballots[i])
        elif isinstance(original, Counted):
            outcomes[i] = _accepted(ballots[first], replay=True)
        elif isinstance(original, Accepted):
            outcomes[i] = dataclasses.replace(original, replay=True)
        else:
            outcomes[i] = original
    decided = [o for o in outcomes if o is not None]
    assert len(decided) == len(ballots), "every ballot gets an outcome"
    return decided


def _accepted(b: Ballot, replay: bool = False) -> Accepted:
    return Accepted.of(b, b.cast_at, replay=replay)


def write_batch(
    connection: Connection,
    ballots: Sequence[Ballot],
    torcida: TorcidaLimit = _STORED_BUDGETS,
    unico_per_device: int | None = None,
) -> list[Outcome]:
    """`decide_batch`, each ballot answered: `Accepted` (stored now, or a replay of a stored
    vote) or the `DomainError` that refuses it."""
    decisions = decide_batch(connection, ballots, torcida, unico_per_device=unico_per_device)
    return [
        _accepted(b) if isinstance(d, Counted) else d
        for b, d in zip(ballots, decisions, strict=True)
    ]


def find_vote(connection: Connection, paredao_id: int, vote_id: Any) -> Any | None:
    """The stored vote (paredao_id, vote_id, nominee_id, mode, accepted_at), or None."""
    return connection.execute(
        select(
            VOTES.c.paredao_id,
            VOTES.c.vote_id,
            VOTES.c.nominee_id,
            VOTES.c.mode,
            VOTES.c.accepted_at,
        ).where(VOTES.c.paredao_id == paredao_id, VOTES.c.vote_id == vote_id)
    ).first()


def find_refusal(connection: Connection, paredao_id: int, vote_id: Any) -> Any | None:
    """The consumer's refusal of a vote (nominee_id, mode, reason, detail, cast_at), or None."""
    refusals = SQLModel.metadata.tables[VoteRefusal.__tablename__]
    return connection.execute(
        select(refusals).where(refusals.c.paredao_id == paredao_id, refusals.c.vote_id == vote_id)
    ).first()
