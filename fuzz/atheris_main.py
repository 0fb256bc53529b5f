"""The atheris entry point every harness shares.

Each ``fuzz_*.py`` ends with ``fuzz(test_one_input)`` under ``__main__``, so that
``python fuzz/fuzz_chunks.py [corpus] [libFuzzer options]`` fuzzes it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


def fuzz(test_one_input: Callable[[bytes], None]) -> None:
    """Run ``test_one_input`` under atheris with the command line's options."""
    import atheris  # type: ignore[import-untyped]

    # The library warns about the bad input it is fed here on purpose.
    logging.disable(logging.CRITICAL)
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
