"""The votos únicos a device (voter_id) may cast per paredão in anonymous mode
(`Settings.device_unico_limit`), applied to a batch by `db.votes.decide_batch`."""

from collections.abc import Sequence

from db.vote_statements import Voter
from model.ballot import Ballot
from model.errors import DeviceAlreadyVoted
from model.vote import VoteMode


def device_refusal(ballot: Ballot, limit: int | None) -> DeviceAlreadyVoted:
    cast = "its voto único" if limit == 1 else f"the {limit} votos únicos a device may cast"
    return DeviceAlreadyVoted(
        f"this device (voter_id) already cast {cast} in paredão {ballot.paredao_id}"
    )


class DeviceLimit:
    """At most `limit` votos únicos per (paredão, voter_id): the stored ones, then the
    batch's in order. `used` starts as the stored counts (locked by the batch)."""

    def __init__(self, limit: int, used: dict[Voter, int]) -> None:
        self._limit = limit
        self._used = used

    def admit(
        self, ballots: Sequence[Ballot], indexes: Sequence[int]
    ) -> tuple[list[int], list[int]]:
        """(admitted, held back) of these indexes; only votos únicos are held back. An
        admitted vote takes its place until `stored` says whether it was stored."""
        admitted: list[int] = []
        held: list[int] = []
        taken: dict[Voter, int] = {}
        for i in indexes:
            b = ballots[i]
            if b.mode != VoteMode.unico:
                admitted.append(i)
                continue
            voter = (b.paredao_id, b.voter_id)
            if self._used.get(voter, 0) + taken.get(voter, 0) < self._limit:
                taken[voter] = taken.get(voter, 0) + 1
                admitted.append(i)
            else:
                held.append(i)
        return admitted, held

    def stored(self, ballot: Ballot) -> None:
        """A vote admitted is stored: it counts against its device from now on."""
        if ballot.mode == VoteMode.unico:
            voter = (ballot.paredao_id, ballot.voter_id)
            self._used[voter] = self._used.get(voter, 0) + 1
