"""bench/fanout.py runs end to end (``--quick``) and prints its table.

Performance is never asserted here: only that every case was measured and reported.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from peers import nginx_module, peer_binary

from trio_rtmp.core import messages
from trio_rtmp.core.chunks import ChunkReader

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "fanout.py"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_fanout_loadgen", ROOT / "bench" / "_loadgen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_acknowledgement_is_a_valid_message() -> None:
    # The counting players send these without a connection object: they must be
    # well-formed on their own, including a sequence number past 2**32.
    loadgen = _load_generator()
    reader = ChunkReader()
    for sequence in (0, 2_500_000, 2**32 + 5):
        (message,) = reader.receive_data(loadgen._acknowledgement(sequence))
        value = messages.decode_message(message)
        assert value == messages.Acknowledgement(sequence_number=sequence & 0xFFFFFFFF)


@pytest.mark.slow
@pytest.mark.interop
def test_quick_run_prints_the_table() -> None:
    for binary in ("ffmpeg", "ffprobe", "nginx", "taskset"):
        peer_binary(binary)
    nginx_module("rtmp")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "CPU s/plr-min" in result.stdout, output
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\s+20 (trio-rtmp|nginx-rtmp)\s+(.*)$", result.stdout, re.M)
    }
    assert set(rows) == {"trio-rtmp", "nginx-rtmp"}, output
    for server, row in rows.items():
        assert not row.startswith("FAILED"), f"{server}: {row}\n{output}"
        assert re.search(r"\d+\.\d+%", row), f"{server}: no share of complete players\n{output}"
    assert re.search(
        r"N=20: CPU/player trio-rtmp -?[\d.]+ s/min, nginx-rtmp -?[\d.]+ s/min, ratio", output
    ), output
    for server in ("trio-rtmp", "nginx-rtmp"):
        assert re.search(
            rf"latency {server} \(20 players\): p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms", output
        ), output
