"""The core and the media layer stay sans-IO: no event loop, socket, thread, clock or
randomness of their own, and importable without Trio."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trio_rtmp"
FORBIDDEN = {"trio", "asyncio", "socket", "threading", "time", "random", "secrets", "selectors"}
SANS_IO = sorted((PACKAGE / "core").glob("*.py")) + sorted((PACKAGE / "media").glob("*.py"))


@pytest.mark.parametrize("path", SANS_IO, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_io_imports(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
        # os is allowed for nothing but its absence: no urandom, no clocks.
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            pytest.fail(f"{path.name} imports from os")
    source = path.read_text()
    for call in ("os.urandom", "datetime.now", "datetime.utcnow", "date.today", "time.time"):
        assert call not in source, f"{path.name} calls {call}"


def test_core_and_media_import_without_trio() -> None:
    code = (
        "import sys\n"
        "sys.modules['trio'] = None  # any 'import trio' now raises ImportError\n"
        "import trio_rtmp.core, trio_rtmp.core.connection, trio_rtmp.media\n"
        "import trio_rtmp.media.flv, trio_rtmp.media.demux\n"
        "assert 'trio' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
