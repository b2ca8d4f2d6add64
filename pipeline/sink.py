"""The one door between taking a vote and making it durable.

`VotingService` hands every validated ballot to a `VoteSink` and answers with what it says:
the group-commit writer (the direct path) stores and decides the vote before it answers; a
Kafka producer answers once the brokers hold the vote, and the consumer decides it later.
"""

from typing import Protocol

from model.ballot import Accepted, Ballot


class VoteSink(Protocol):
    async def start(self) -> None:
        """Begin taking ballots."""

    async def stop(self) -> None:
        """Stop taking ballots and make every ballot already taken durable."""

    async def submit(self, ballot: Ballot) -> Accepted:
        """Make `ballot` durable; return once it is, or raise the `DomainError` refusing it."""
