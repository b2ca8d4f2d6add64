"""`/metrics` in one process: what the votes, the requests, the writer and the caches count.

The counters live as long as the test process, so each test compares before and after."""

import asyncio
import re
import uuid
from functools import partial
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from observability import metrics
from tests.conftest import ADMIN, cpf
from tests.support.api import cast_vote

VOTE_ROUTE = "/paredoes/{paredao_id}/votes"


# Every sample of a scrape of /metrics: (name, labels) → value.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Every sample of /metrics: (name, labels) → value."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def grown(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much the `total` of `name` and `labels` grew from one scrape to a later one."""
    return total(after, name, **labels) - total(before, name, **labels)


async def vote(client: httpx.AsyncClient, paredao: dict[str, Any], **body: Any) -> httpx.Response:
    """A vote for the first nominee unless `body` says (see `cast_vote`)."""
    body.setdefault("nominee_id", paredao["nominees"][0]["candidate_id"])
    return await cast_vote(client, paredao["id"], **body)


class TestVoteCounters:
    async def test_counted_votes_equal_the_stored_votes(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        before = await scrape(client)
        answers = await asyncio.gather(*(vote(client, paredao) for _ in range(25)))
        answers += [await vote(client, paredao, mode="unico", cpf=cpf(1000 + i)) for i in range(5)]
        assert {r.status_code for r in answers} == {202}
        after = await scrape(client)

        stats = (await client.get(f"/paredoes/{paredao['id']}/stats", headers=ADMIN)).json()
        delta = partial(grown, before, after, "paredao_votes_total")
        assert delta(outcome="counted") == stats["total_votes"] == 30
        for mode, n in (("torcida", 25), ("unico", 5)):
            assert delta(outcome="counted", mode=mode) == n

    async def test_replays_refusals_and_their_reasons(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        first = await vote(client, paredao, mode="unico", cpf=cpf(7), vote_id=str(uuid.uuid4()))
        assert first.status_code == 202
        before = await scrape(client)
        reused = await vote(client, paredao, vote_id=first.json()["vote_id"])  # another body
        twice = await vote(client, paredao, mode="unico", cpf=cpf(7))
        assert (reused.status_code, twice.status_code) == (409, 409)
        torcida = {"vote_id": str(uuid.uuid4()), "voter_id": "replayer"}
        sent = await vote(client, paredao, **torcida)
        resent = await vote(client, paredao, **torcida)
        assert (sent.status_code, resent.status_code) == (202, 202)
        after = await scrape(client)

        delta = partial(grown, before, after, "paredao_votes_total")
        assert delta(outcome="refused", reason="vote_id_reused") == 1
        assert delta(outcome="refused", reason="cpf_already_voted", mode="unico") == 1
        assert delta(outcome="replay", mode="torcida") == 1
        assert delta(outcome="counted") == 1
        assert delta(ingest="direct") == 4


class TestRequestCounters:
    async def test_the_lean_vote_path_is_counted_by_its_template(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        before = await scrape(client)
        for _ in range(3):
            assert (await vote(client, paredao)).status_code == 202
        bad = await client.post(f"/paredoes/{paredao['id']}/votes", json={"mode": "torcida"})
        assert bad.status_code == 422  # handed over to the route
        await client.get(f"/nothing-here/{uuid.uuid4()}")
        after = await scrape(client)

        delta = partial(grown, before, after)
        route = {"method": "POST", "route": VOTE_ROUTE}
        assert delta("paredao_http_requests_total", **route, status="202") == 3
        assert delta("paredao_http_requests_total", **route, status="422") == 1
        assert delta("paredao_http_request_duration_seconds_count", **route) == 4
        assert delta("paredao_http_requests_total", route="<unmatched>", status="404") == 1
        # Labels hold templates, never a path with an id in it.
        routes = {dict(ls).get("route", "") for (_, ls) in after}
        assert not [r for r in routes if re.search(r"/[0-9]", r)], routes

    async def test_writer_and_cache_metrics(
        self, client: httpx.AsyncClient, paredao: dict[str, Any]
    ) -> None:
        before = await scrape(client)
        assert (await vote(client, paredao)).status_code == 202
        assert (await client.get(f"/paredoes/{paredao['id']}/results")).status_code == 200
        after = await scrape(client)

        delta = partial(grown, before, after)
        assert delta("paredao_vote_batch_size_count") >= 1
        assert delta("paredao_vote_batch_size_sum") >= 1
        assert delta("paredao_vote_commit_seconds_count") >= 1
        assert ("paredao_vote_writer_queue_depth", frozenset()) in after
        assert delta("paredao_cache_requests_total", cache="results", result="miss") == 1
        assert delta("paredao_cache_requests_total", cache="catalog") >= 1


class TestRequestId:
    async def test_a_good_request_id_is_echoed(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/healthz", headers={"X-Request-ID": "abc-123.def"})
        assert r.headers["X-Request-ID"] == "abc-123.def"

    async def test_one_is_made_when_absent_or_unusable(self, client: httpx.AsyncClient) -> None:
        made = (await client.get("/healthz")).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        odd = (await client.get("/healthz", headers={"X-Request-ID": 'a b"c'})).headers
        assert odd["X-Request-ID"] != 'a b"c'
        assert re.fullmatch(r"[0-9a-f]{32}", odd["X-Request-ID"])


class Value:
    """A stand-in for one of prometheus_client's values: what was written to it."""

    def __init__(self) -> None:
        self.written: list[float] = []

    def inc(self, amount: float) -> None:
        self.written.append(amount)


class TestPendingIncrements:
    """Multiprocess mode counts a request's increments in memory and writes them a few times
    a second (`metrics.Pending`)."""

    async def test_written_together_after_the_interval(self) -> None:
        pending = metrics.Pending(0.05)
        requests, seconds = Value(), Value()
        for _ in range(3):
            pending.add(requests, 1.0)
            pending.add(seconds, 0.25)
        assert requests.written == seconds.written == []
        await asyncio.sleep(0.1)
        assert (requests.written, seconds.written) == ([3.0], [0.75])
        pending.add(requests, 1.0)  # a new interval starts
        await asyncio.sleep(0.1)
        assert requests.written == [3.0, 1.0]

    async def test_a_flush_writes_at_once(self) -> None:
        pending = metrics.Pending(60)
        value = Value()
        pending.add(value, 2.0)
        pending.flush()  # a scrape, or the worker stopping
        assert value.written == [2.0]
        pending.flush()
        assert value.written == [2.0]

    def test_written_at_once_where_no_loop_runs(self) -> None:
        pending = metrics.Pending(60)
        value = Value()
        pending.add(value, 1.0)
        assert value.written == [1.0]

    def test_an_answers_increments_are_prometheus_clients_own(self) -> None:
        """What `request_answered` adds in multiprocess mode is what `Counter.inc` and
        `Histogram.observe` add: one request, the duration's sum, one in the first bucket
        whose bound holds it."""
        for seconds in (0.0, 0.001, 0.0011, 0.5, 10.0, 11.0):
            registry = CollectorRegistry()
            counter = Counter("c", "", ["route"], registry=registry).labels("/x")
            histogram = Histogram(
                "h", "", ["route"], buckets=metrics.LATENCY_BUCKETS, registry=registry
            )
            observed, added = histogram.labels("/observed"), histogram.labels("/added")
            observed.observe(seconds)
            for value, amount in metrics.answer_increments(counter, added, seconds):
                value.inc(amount)
            assert counter._value.get() == 1.0
            assert added._sum.get() == observed._sum.get() == seconds
            assert [b.get() for b in added._buckets] == [b.get() for b in observed._buckets]
