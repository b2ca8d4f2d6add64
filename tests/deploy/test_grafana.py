"""deploy/grafana/paredao.json: a dashboard Grafana can import, whose queries name only
metrics the API's /metrics and the consumer's metrics really export."""

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.kafka.metrics import REGISTRY as CONSUMER_REGISTRY

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "paredao.json"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def exported(text: str) -> set[str]:
    """The series names an exposition declares (by each family's TYPE), with or without samples."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


class TestDashboard:
    def test_is_a_dashboard_grafana_imports(self) -> None:
        dashboard = json.loads(DASHBOARD.read_text())
        assert dashboard["uid"] == "paredao"
        assert dashboard["schemaVersion"] >= 36
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["query"] == "prometheus"
        for panel in dashboard["panels"]:
            assert panel["title"] and panel["targets"], panel
            assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
            for target in [panel, *panel["targets"]]:
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}

    def test_shows_what_operators_watch_in_a_burst(self) -> None:
        text = " ".join(queries(json.loads(DASHBOARD.read_text())))
        for shown in (
            "paredao_votes_total",  # votes/s by outcome
            "histogram_quantile(0.99",  # p99 latency
            "paredao_vote_writer_queue_depth",
            "paredao_consumer_lag",
        ):
            assert shown in text, shown

    async def test_every_metric_it_queries_is_exported(
        self, client: httpx.AsyncClient, open_paredao: Any
    ) -> None:
        p = await open_paredao(2)
        vote = {"nominee_id": p["nominees"][0]["candidate_id"], "mode": "torcida"}
        r = await client.post(f"/paredoes/{p['id']}/votes", json={**vote, "voter_id": "g"})
        assert r.status_code == 202
        await client.get(f"/paredoes/{p['id']}/results")
        await client.get(f"/nothing/{uuid.uuid4()}")
        api = (await client.get("/metrics")).text
        names = exported(api) | exported(generate_latest(CONSUMER_REGISTRY).decode())

        used = {
            name
            for expr in queries(json.loads(DASHBOARD.read_text()))
            # (label values such as "/paredoes/{paredao_id}/votes" are not metric names)
            for name in re.findall(r"\bparedao_[a-z0-9_]+\b", re.sub(r'"[^"]*"', '""', expr))
        }
        assert used, "the dashboard queries no metric of ours"
        assert not used - names, f"queried but never exported: {sorted(used - names)}"
