"""bench/core.py runs end to end on a small stream and prints every figure.

Performance is never asserted here: only that every case was measured and reported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "core.py"


def run_bench(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--seconds", "0.04", "--megabytes", "0.3", *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("options", [(), ("--read-size", "262144")])
def test_bench_core_reports_every_chunk_size(options: tuple[str, ...]) -> None:
    result = run_bench(*options)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    pattern = re.compile(
        r"chunk size +(\d+): copy +\d+ MB/s \| reader +\d+ MB/s = +[\d.]+% of copy \| "
        r"writer +\d+ MB/s = +[\d.]+% of copy"
    )
    sizes = [int(m.group(1)) for line in lines if (m := pattern.match(line))]
    assert sizes == [128, 4096, 65536], result.stdout
    floor = re.compile(
        r" +floor +\d+ MB/s = +[\d.]+% of copy \(reader at \d+% of the floor's rate\)"
    )
    assert sum(1 for line in lines if floor.match(line)) == 3, result.stdout
    assert any(line.startswith("AMF0 connect command") for line in lines), result.stdout


def test_bench_core_refuses_reads_the_floor_cannot_take() -> None:
    result = run_bench("--read-size", "16384")
    assert result.returncode == 2
    assert "--read-size must be at least 65536" in result.stderr


def test_floor_refuses_reads_shorter_than_a_message() -> None:
    # The floor is only for the bench's 64 KiB reads: given shorter ones it must stop
    # at once, not read headers out of payload bytes (without the check it once ate
    # all memory, and can loop forever on a zero length).  In a child process, so
    # that a regression fails on the timeout instead of hanging the suite.
    code = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("_bench_core", {str(BENCH)!r})
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
stream = bench.write_stream(bench.make_messages(100_000), 4096)
floor = bench.FloorReader(4096)
try:
    for i in range(0, 32 * 1024, 1024):
        floor.receive_data(stream[i : i + 1024])
except ValueError as exc:
    print("refused:", exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "next read" in result.stdout, result.stdout
