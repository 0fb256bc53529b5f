"""The ``trio-rtmp`` command line (``python -m trio_rtmp``); see :mod:`trio_rtmp.cli`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        # Ctrl-C while starting up (loading Trio and the rest): no traceback.
        return 130
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
