"""Write the seed corpora of every harness into ``fuzz/corpus/<harness>/``.

Seeds are generated, never committed: each ``fuzz_*.py`` module defines ``seeds()``,
returning a list of valid (and some nearly valid) inputs built with trio-rtmp's own
encoders.  Run ``python fuzz/make_corpus.py`` before fuzzing.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def harness_names() -> list[str]:
    """The module names of every harness in this folder."""
    return sorted(p.stem for p in HERE.glob("fuzz_*.py"))


def load(name: str):  # type: ignore[no-untyped-def]
    """Import one harness module by name."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(name)


def write_corpus(name: str, root: Path = HERE / "corpus") -> Path:
    """Write the seeds of harness ``name``; returns its corpus folder."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for seed in load(name).seeds():
        digest = hashlib.sha1(seed).hexdigest()
        (folder / f"seed-{digest}").write_bytes(seed)
    return folder


def main() -> None:
    for name in harness_names():
        folder = write_corpus(name)
        print(f"{name}: {len(list(folder.iterdir()))} files in {folder}")


if __name__ == "__main__":
    main()
