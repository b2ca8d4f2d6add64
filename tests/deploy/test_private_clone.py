"""The local stack from a clone in a private folder (mode 700, as a Debian home or /root is), run
by whoever runs the tests, root included: deploy/stack/up.sh starts PostgreSQL (a cluster and a
port of its own), the migration, an API process and NGINX (a port of its own) from the clone on
the direct path; a page, a static file and a vote go through NGINX and the vote is stored in
that PostgreSQL; down.sh stops them all.

Started as root, PostgreSQL runs as `postgres` and NGINX's workers as `www-data`, neither of
whom can enter the private folder: what they write and read must live outside the clone
(deploy/lib.sh, service_dir; here under a state root of the test's own), and the clone's
permissions stay as they were. Without PostgreSQL's binaries or NGINX the test skips locally
with the reason and fails in CI (CI=true).
"""

import contextlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.deploy.test_stack import free_ports, make_paredao
from tests.support.environment import unavailable

ROOT = Path(__file__).resolve().parents[2]
SERVICE_USERS = ("postgres", "www-data")


def copy_checkout(destination: Path) -> None:
    """The files a clone of this checkout holds, as they are in the working tree (tracked, and
    untracked ones git does not ignore), modes kept."""
    git = shutil.which("git")
    if git is None:
        unavailable("git is not installed")
    listed = subprocess.run(
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def permissions(folder: Path) -> dict[str, tuple[int, int]]:
    """Mode and owner of every path under `folder` (itself included)."""
    paths = [folder, *folder.rglob("*")]
    return {str(p): (p.lstat().st_mode, p.lstat().st_uid) for p in paths if ".venv" not in p.parts}


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def service_uids() -> set[int]:
    uids = set()
    for name in SERVICE_USERS:
        with contextlib.suppress(KeyError):  # no such user here: it owns nothing
            uids.add(pwd.getpwnam(name).pw_uid)
    return uids


def run_stack(clone: Path, env: dict[str, str], name: str) -> subprocess.CompletedProcess[str]:
    """deploy/stack/<name> of the clone, run from the clone."""
    return subprocess.run(
        [str(clone / "deploy" / "stack" / name)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class PrivateClone:
    private: Path  # the mode-700 folder
    clone: Path
    state_root: Path
    env: dict[str, str]
    ports: dict[str, int]
    before: dict[str, tuple[int, int]]  # permissions() before up.sh
    up: subprocess.CompletedProcess[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['nginx']}"


@pytest.fixture(scope="module")
def private_clone() -> Iterator[PrivateClone]:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        unavailable("PostgreSQL's server binaries are not installed: run deploy/postgres/start.sh")
    if not (Path("/usr/sbin/nginx").exists() or shutil.which("nginx")):
        unavailable("nginx is not installed: run deploy/nginx/install.sh")
    if not (ROOT / ".venv" / ".installed").exists():
        unavailable("no virtualenv in the checkout: make .venv/.installed")

    private = Path(tempfile.mkdtemp(prefix="paredao-private-"))
    private.chmod(0o700)
    clone = private / "paredao"
    copy_checkout(clone)
    (clone / ".venv").symlink_to(ROOT / ".venv")  # the checkout's, not a second install
    state_root = Path(tempfile.mkdtemp(prefix="paredao-state-"))
    state_root.chmod(0o755)  # as /var/lib/paredao is: its users search it, the clone stays private

    ports = dict(zip(("postgres", "api", "nginx"), free_ports(3), strict=True))
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAREDAO_", "KAFKA", "PG", "DATABASE_URL"))
    }
    env = {
        **inherited,
        "PAREDAO_STATE_ROOT": str(state_root),
        "PAREDAO_INGEST": "direct",
        "PGPORT_DEV": str(ports["postgres"]),
        "PAREDAO_API_PROCESSES": "1",
        "PAREDAO_API_BASE_PORT": str(ports["api"]),
        "PAREDAO_NGINX_PORT": str(ports["nginx"]),
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
    }
    before = permissions(private)
    up = run_stack(clone, env, "up.sh")
    try:
        assert up.returncode == 0, f"up.sh from the private clone failed:\n{up.stderr}"
        yield PrivateClone(private, clone, state_root, env, ports, before, up)
    finally:
        down = run_stack(clone, env, "down.sh")  # again after the test that stops it: idempotent
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(state_root, ignore_errors=True)
        assert down.returncode == 0, f"down.sh from the private clone failed:\n{down.stderr}"


class TestStackFromAPrivateClone:
    def test_pages_static_files_and_a_vote_go_through_nginx(
        self, private_clone: PrivateClone
    ) -> None:
        with httpx.Client(base_url=private_clone.url, timeout=15) as http:
            assert http.get("/readyz").json()["checks"]["database"] == "ok"
            page = http.get("/")
            assert page.status_code == 200, page.text
            script = http.get("/static/js/votar.js")
            assert script.status_code == 200
            assert script.content == (private_clone.clone / "views/static/js/votar.js").read_bytes()
            p = make_paredao(http)
            nominee = p["nominees"][0]["candidate_id"]
            body = {"nominee_id": nominee, "mode": "torcida", "voter_id": "private-clone-1"}
            r = http.post(f"/paredoes/{p['id']}/votes", json=body)
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "counted"
            vote_id = r.json()["vote_id"]

        # Stored in the PostgreSQL the clone started, on its own port.
        url = f"postgresql://paredao:paredao@127.0.0.1:{private_clone.ports['postgres']}/paredao"
        with psycopg.connect(url, connect_timeout=5) as db:
            row = db.execute(
                "SELECT paredao_id, nominee_id FROM votes WHERE vote_id = %s", (vote_id,)
            ).fetchone()
        assert row is not None and (str(row[0]), str(row[1])) == (str(p["id"]), str(nominee))

    def test_the_services_state_lives_where_their_users_reach_it(
        self, private_clone: PrivateClone
    ) -> None:
        clusters = list(private_clone.state_root.glob("*/deploy/postgres/data/PG_VERSION"))
        inside = private_clone.clone / "deploy" / "postgres" / "data" / "PG_VERSION"
        if os.geteuid() == 0:
            # postgres and www-data cannot enter the private folder: their folders are outside.
            assert len(clusters) == 1, private_clone.up.stderr
            assert not inside.exists()
            assert clusters[0].stat().st_uid == pwd.getpwnam("postgres").pw_uid
            published = list(private_clone.state_root.glob("*/deploy/stack/run/nginx/static"))
            assert len(published) == 1, private_clone.up.stderr
        else:
            # Not root: the services run as ourselves, and their folders stay in the clone.
            assert clusters == [] and inside.exists()

    def test_the_clone_keeps_its_permissions(self, private_clone: PrivateClone) -> None:
        after = permissions(private_clone.private)
        changed = {
            path: (before, after[path])
            for path, before in private_clone.before.items()
            if after.get(path, before) != before
        }
        assert changed == {}
        assert stat.S_IMODE(private_clone.private.stat().st_mode) == 0o700
        services = service_uids()
        owned = [path for path, (_, uid) in after.items() if uid in services]
        assert owned == [], "the service users own files in the private clone"

    def test_down_stops_everything_it_started(self, private_clone: PrivateClone) -> None:
        down = run_stack(private_clone.clone, private_clone.env, "down.sh")
        assert down.returncode == 0, down.stderr
        assert "[postgres stop] stopped" in down.stderr
        still_open = [name for name, port in private_clone.ports.items() if port_open(port)]
        assert still_open == []
