"""What a tier of the Kafka path spends, read from outside it: the CPU of a process tree from
/proc/<pid>/stat (children that exited included), the process behind a listening port, the
broker's topic segments on disk, and PostgreSQL's WAL and table bytes."""

import os
import time
from pathlib import Path

from sqlalchemy import Engine, text

IDLE_S = 5.0
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, CPU ms of itself and of its reaped children)."""
    out: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # fields[0] is field 3, the state
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        out[int(entry.name)] = (int(fields[1]), (utime + stime + cutime + cstime) * TICK_MS)
    return out


# PostgreSQL's own processes that work for every database: their CPU counts in full.
POSTGRES_SHARED = ("checkpointer", "background writer", "walwriter")


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def tree_cpu_ms(roots: dict[str, int], postgres: tuple[int, str]) -> dict[str, float]:
    """Per tier, the CPU ms of its root process and all its descendants; and for "postgres"
    (postmaster pid, database), the backends and autovacuum workers of that database and the
    server's checkpointer, background writer and WAL writer (not other databases' backends)."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    cpu: dict[str, float] = {}
    for tier, root in roots.items():
        if root not in stats:
            raise SystemExit(f"the {tier} process {root} is gone")
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += stats[pid][1]
            todo.extend(children.get(pid, []))
        cpu[tier] = total
    postmaster, database = postgres
    titles = [_title(pid).split() for pid in children.get(postmaster, [])]
    cpu["postgres"] = sum(
        stats[pid][1]
        for pid, words in zip(children.get(postmaster, []), titles, strict=True)
        if database in words or " ".join(words[1:]) in POSTGRES_SHARED
    )
    return cpu


def listener_pid(port: int) -> int:
    """The process listening on 127.0.0.1/0.0.0.0:`port` (through /proc/net/tcp's socket
    inode and the processes' open files; readable as root or as the process's owner)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = list(os.scandir(f"/proc/{entry.name}/fd"))
        except OSError:  # gone, or not ours
            continue
        for fd in fds:
            try:
                if os.readlink(fd.path) in inodes:
                    return int(entry.name)
            except OSError:  # closed since it was listed (a busy broker opens and closes many)
                continue
    raise SystemExit(f"no process of ours can be seen listening on port {port} (run as its owner)")


def kafka_log_dirs(broker: int) -> list[Path]:
    """The broker's `log.dirs`, from the properties file its command line names last (the
    last line that sets it wins, as in Java; a relative path is from the broker's folder)."""
    argv = Path(f"/proc/{broker}/cmdline").read_bytes().split(b"\0")
    cwd = Path(os.readlink(f"/proc/{broker}/cwd"))
    properties = cwd / next(a for a in reversed(argv) if a).decode()
    lines = properties.read_text().splitlines()
    found = [x.split("=", 1)[1] for x in lines if x.startswith(("log.dirs=", "log.dir="))]
    if not found:
        raise SystemExit(f"no log.dirs in {properties}")
    return [cwd / d.strip() for d in found[-1].split(",")]


def topic_bytes(log_dirs: list[Path], topic: str) -> int:
    """The bytes of the topic's log segments (its records, as they lie on disk)."""
    total = 0
    for log_dir in log_dirs:
        for partition in log_dir.glob(f"{topic}-*"):
            if partition.name.rsplit("-", 1)[0] == topic:
                total += sum(f.stat().st_size for f in partition.glob("*.log"))
    return total


# --- PostgreSQL -------------------------------------------------------------------------------


def wal_lsn(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())


def wal_bytes(engine: Engine, start: str) -> int:
    with engine.connect() as connection:
        diff = connection.execute(
            text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:start AS pg_lsn))"),
            {"start": start},
        ).scalar_one()
    return int(diff)


def relation_bytes(engine: Engine) -> int:
    """Tables (partitions included), their indexes and TOAST, in the database's own schemas."""
    query = text(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'm')"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def broker_idle_ms_per_s(roots: dict[str, int], postgres: tuple[int, str]) -> float:
    """The shared broker's CPU for other topics and groups: ms per s over IDLE_S of no load."""
    before = tree_cpu_ms(roots, postgres)["broker"]
    time.sleep(IDLE_S)
    return (tree_cpu_ms(roots, postgres)["broker"] - before) / IDLE_S
