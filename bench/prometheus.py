"""A real Prometheus (Debian's `prometheus`, deploy/prometheus/install.sh) scraping a run's
processes with deploy/grafana/prometheus.yml, and every expression the dashboard
(deploy/grafana/paredao.json) plots asked of it. Used by `make capacity` (bench/capacity.py)
and tests/deploy/test_prometheus_dashboard.py.

The configuration Prometheus reads is a copy of deploy/grafana/prometheus.yml with each job's
`targets` set to the run's ports (and, if asked, another scrape interval): the jobs, their
names and everything else stay as an operator deploys them.
"""

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, Started, free_port

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "paredao.json"
SCRAPE_CONFIG = GRAFANA / "prometheus.yml"
INSTALL = "deploy/prometheus/install.sh"

# Grafana's built-in variables, as Grafana fills them for a dashboard over the last 15 minutes
# of a 5 s scrape (`$__rate_interval` is at least 4 scrape intervals; 1m is Grafana's default
# for a Prometheus data source without a configured interval).
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "15m",
    "__range_s": "900",
    "__range_ms": "900000",
}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


@dataclass(frozen=True)
class Query:
    panel: str
    expr: str  # as the dashboard holds it
    promql: str  # with Grafana's variables filled in


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def fill_variables(expr: str) -> str:
    """`expr` with Grafana's variables ($__rate_interval, ${__interval}, …) replaced by what
    Grafana would send; a variable Grafana does not define is an error, not a silent hole."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            raise ValueError(f"the dashboard uses ${name}, which no Grafana built-in fills: {expr}")
        return GRAFANA_VARIABLES[name]

    return _VARIABLE.sub(value, expr)


def dashboard_queries(path: Path = DASHBOARD) -> list[Query]:
    """Each target's `expr` of each panel of the dashboard, in order."""
    dashboard = json.loads(path.read_text())
    return [
        Query(panel["title"], target["expr"], fill_variables(target["expr"]))
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def scrape_config(targets: dict[str, list[str]], interval: str | None = None) -> str:
    """deploy/grafana/prometheus.yml with each job's `targets` line set to `targets[job]`
    (every job of the file must be given its targets, and only those)."""
    text = SCRAPE_CONFIG.read_text()
    jobs = re.findall(r"^\s*- job_name:\s*(\S+)\s*$", text, re.M)
    if sorted(jobs) != sorted(targets):
        raise ValueError(f"{SCRAPE_CONFIG} has jobs {jobs}, targets given for {sorted(targets)}")
    blocks = re.split(r"(?m)^(?=\s*- job_name:)", text)
    out = [blocks[0]]
    for block in blocks[1:]:
        job = re.search(r"job_name:\s*(\S+)", block)
        assert job is not None
        listed = json.dumps(targets[job.group(1)])
        block, replaced = re.subn(r"targets:\s*\[[^\]]*\]", f"targets: {listed}", block)
        if replaced != 1:
            raise ValueError(f"job {job.group(1)} of {SCRAPE_CONFIG}: no one `targets: [...]` line")
        out.append(block)
    config = "".join(out)
    if interval is not None:
        config = re.sub(r"(?m)^(\s*scrape_interval:\s*)\S+", rf"\g<1>{interval}", config)
    return config


def binary() -> str | None:
    return shutil.which("prometheus")


class Prometheus(Started):
    """Prometheus on a free loopback port with its own data directory, scraping `targets`
    ({job: ["host:port", …]}) as deploy/grafana/prometheus.yml does."""

    def __init__(
        self, workdir: Path, targets: dict[str, list[str]], interval: str | None = None
    ) -> None:
        executable = binary()
        if executable is None:
            raise RuntimeError(f"prometheus is not installed: run {INSTALL}")
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        config.write_text(scrape_config(targets, interval))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    executable,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus did not start:\n{self.log_path.read_text()[-2000:]}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) `promql` gives now."""
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=30)
        body = r.json()
        if r.status_code != 200 or body.get("status") != "success":
            raise RuntimeError(f"prometheus refused {promql!r}: {body.get('error', r.text)}")
        data = body["data"]
        if data["resultType"] == "vector":
            return list(data["result"])
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        raise RuntimeError(f"{promql!r} gives a {data['resultType']}, not a vector")

    def targets_up(self) -> dict[str, bool]:
        """Each scraped target (`job instance`) and whether its last scrape succeeded."""
        return {
            f"{s['metric']['job']} {s['metric']['instance']}": s["value"][1] == "1"
            for s in self.query("up")
        }

    def wait_scraped(self, targets: int, timeout_s: float = 60) -> None:
        """Until `targets` targets answered their last scrape."""
        deadline = time.monotonic() + timeout_s
        while sum(self.targets_up().values()) < targets:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not every target is up after {timeout_s} s: {self.targets_up()}"
                )
            time.sleep(0.5)


def finite(samples: list[dict[str, Any]]) -> list[float]:
    """The sample values that are numbers (histogram_quantile over no events gives NaN)."""
    values = (float(s["value"][1]) for s in samples)
    return [v for v in values if math.isfinite(v)]


def ask_dashboard(prometheus: Prometheus) -> list[tuple[Query, list[float]]]:
    """Every expression the dashboard plots, asked now: each with its finite values."""
    return [(q, finite(prometheus.query(q.promql))) for q in dashboard_queries()]
