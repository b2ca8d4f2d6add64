"""NGINX in front of API processes, started and stopped by deploy/nginx's own scripts, as an
operator runs them."""

import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.deploy import run_script, started
from tests.support.environment import ROOT
from tests.support.ports import free_port

NGINX_DIR = ROOT / "deploy" / "nginx"


@dataclass
class Proxy:
    """An NGINX started by deploy/nginx/start.sh from its own run directory."""

    url: str
    env: dict[str, str]

    @property
    def run_dir(self) -> Path:
        return Path(self.env["PAREDAO_NGINX_RUN_DIR"])

    def script(self, name: str) -> subprocess.CompletedProcess[str]:
        """Run deploy/nginx/`name` with this NGINX's environment; the caller checks its exit."""
        return run_script(NGINX_DIR / name, self.env, timeout_s=60)


@contextmanager
def nginx_in_front(upstream_ports: Iterable[int], **env: str) -> Iterator[Proxy]:
    """Start NGINX over `upstream_ports` with `env` on top; stop it and remove its run
    directory after.

    The run directory is under /tmp with mode 755, not in pytest's private tmp_path: started as
    root, NGINX's workers run as www-data and must reach its temp and cache directories.
    """
    run_dir = Path(tempfile.mkdtemp(prefix="paredao-nginx-"))
    run_dir.chmod(0o755)
    port = free_port()
    proxy = Proxy(
        url=f"http://127.0.0.1:{port}",
        env={
            **os.environ,
            "PAREDAO_NGINX_PORT": str(port),
            "PAREDAO_UPSTREAM_PORTS": " ".join(str(p) for p in upstream_ports),
            "PAREDAO_NGINX_RUN_DIR": str(run_dir),
            **env,
        },
    )
    with started(NGINX_DIR / "start.sh", NGINX_DIR / "stop.sh", proxy.env, run_dir, 60):
        yield proxy
