"""RTMP timestamps past their 32-bit wrap.

A message's timestamp is 32-bit milliseconds: it wraps to 0 after 49.7 days, and an
encoder may start anywhere (some count from the device's uptime), so a stream can wrap
at any time.  :class:`TimestampUnwrapper` turns such timestamps into one rising
timeline, for whatever subtracts or compares them (durations, pacing, decoders).

.. code-block:: python

    unwrap = TimestampUnwrapper()
    assert [unwrap(t) for t in (4294967200, 4294967290, 6, 100)] == [
        4294967200, 4294967290, 4294967302, 4294967396
    ]
"""

from __future__ import annotations

_WRAP = 1 << 32
#: Steps of at most this (ms, 24.8 days) either way are steps, not wraps.
HALF = 1 << 31


class TimestampUnwrapper:
    """Extends 32-bit timestamps past the wrap.

    Each timestamp is read as the one nearest to the previous (serial number
    arithmetic, RFC 1982): a step back of more than 2**31 ms is a wrap, a step forward
    of more than 2**31 ms an earlier timestamp from before a wrap.  The first is taken as
    it is, and none comes out negative (a step forward that would make one is taken as
    a step forward).  Timestamps that are already extended (rising past 2**32) come out
    as they went in.
    """

    __slots__ = ("_base", "_last")

    def __init__(self) -> None:
        #: The last timestamp in, and what was added to it (a multiple of 2**32).
        self._last: int | None = None
        self._base = 0

    def __call__(self, timestamp: int, *, update: bool = True) -> int:
        """``timestamp`` on the extended timeline.

        With ``update=False`` it is read against the previous timestamp but does not
        become the new reference (for messages whose timestamps are not the stream's
        clock, such as sequence headers stamped 0).
        """
        last = self._last
        base = self._base
        if last is not None:
            step = timestamp - last
            if step < -HALF:
                base += _WRAP
            elif step > HALF and base:
                base -= _WRAP
        if update:
            self._last = timestamp
            self._base = base
        return timestamp + base

    def reset(self) -> None:
        """Start over: the next timestamp is taken as it is (a new publisher)."""
        self._last = None
        self._base = 0
