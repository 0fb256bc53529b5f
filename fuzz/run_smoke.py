"""Run every harness under atheris for a bounded number of inputs (the CI smoke run).

    python fuzz/run_smoke.py [--runs N] [harness ...]

Exits non-zero if any harness finds a crash.  For long runs see fuzz/README.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from make_corpus import HERE, harness_names, write_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("harness", nargs="*")
    options = parser.parse_args()
    failed = []
    for name in options.harness or harness_names():
        corpus = write_corpus(name)
        command = [
            sys.executable,
            str(HERE / f"{name}.py"),
            f"-runs={options.runs}",
            "-max_len=65536",
            "-rss_limit_mb=2048",
            "-timeout=20",
            f"-artifact_prefix={HERE}/",
            str(corpus),
        ]
        print("$", " ".join(command), flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print("crashes found by:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
