"""Every timestamp comes from the app's clock: only `model/clock.py` may read the wall clock."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("config.py", "main.py", "controllers", "db", "model", "pipeline", "services", "views")
WALL_CLOCK = re.compile(
    r"datetime\.(now|utcnow|today)\(|date\.today\(|\btime\.time\(|\butcnow\b|\bsystem_clock\b"
)
ALLOWED = {ROOT / "model" / "clock.py", ROOT / "main.py"}  # main.py passes system_clock in


def sources() -> list[Path]:
    found: list[Path] = []
    for name in CODE:
        path = ROOT / name
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources()
        if path not in ALLOWED
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if WALL_CLOCK.search(line)
    ]
    assert offenders == [], "read the time from the app's clock instead:\n" + "\n".join(offenders)


def test_the_guard_sees_a_wall_clock_read() -> None:
    assert WALL_CLOCK.search("created = datetime.now(UTC)")
    assert WALL_CLOCK.search("t = time.time()")
    assert not WALL_CLOCK.search("t = time.monotonic()")
