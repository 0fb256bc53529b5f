"""Every limit of the protocol core in one place (after h2's ``H2Configuration``).

The defaults are safe for a public server: a peer can never make the core allocate
more than these limits allow, because every size a peer announces is checked against
them *before* any memory is allocated for it.
"""

from __future__ import annotations

import attrs

__all__ = ["DEFAULT_LIMITS", "Limits"]


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


@attrs.frozen(kw_only=True)
class Limits:
    """Resource limits applied to everything a peer sends.

    Exceeding any of them is a :class:`~trio_rtmp.core.errors.RemoteProtocolError`.
    """

    #: Largest RTMP message (after chunk reassembly) accepted, in bytes.  The message
    #: length field is 24 bits, so the protocol itself caps this at 16 MiB - 1.
    max_message_size: int = attrs.field(default=8 * 1024 * 1024, validator=_positive)
    #: Largest chunk size a peer may announce with Set Chunk Size.  The protocol allows
    #: up to 0x7FFFFFFF; the core never allocates by the chunk size, but a peer that
    #: announces more than this is refused.
    max_chunk_size: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
    #: Most chunk streams that may have a partly received message at the same time.
    max_chunk_streams: int = attrs.field(default=64, validator=_positive)
    #: Most distinct chunk stream ids a peer may use over a connection's lifetime (each
    #: one keeps a small header record).
    max_chunk_stream_ids: int = attrs.field(default=1024, validator=_positive)
    #: Most bytes held by a chunk reader at once: unparsed input plus every partly
    #: reassembled message.  (A server connection holds at most as many in the
    #: messages that wait for the application's answer to ``connect``.)
    max_buffered_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=_positive)
    #: Deepest nesting of AMF objects, arrays and the AMF0 -> AMF3 switch.
    max_amf_depth: int = attrs.field(default=64, validator=_positive)
    #: Largest command or data message (AMF-encoded) that is decoded.  Decoding costs
    #: CPU per value, so this bounds how long one hostile message can keep an event
    #: loop busy (64 KiB of the worst AMF takes tens of milliseconds); real commands
    #: and metadata are a few hundred bytes.  The AMF messages inside one aggregate
    #: message count together, so do those a server holds while ``connect`` awaits
    #: the application, and a connection's ``next_events`` decodes at most this much
    #: per step.
    max_amf_message_size: int = attrs.field(default=64 * 1024, validator=_positive)
    #: Most members of one AMF collection (object properties, array elements,
    #: dictionary entries, vector items) and most entries of an AMF reference table.
    max_amf_collection_size: int = attrs.field(default=65536, validator=_positive)
    #: Most NAL units (empty length entries included) the demuxer splits one H.264
    #: or H.265 frame into.  Each is a Python object, so a frame of thousands of
    #: 1-byte units would cost twenty times its size and a long stall to split;
    #: encoders put one to a few hundred in a frame (one per slice, plus parameter
    #: sets and SEI).  A frame with more is malformed.
    max_nal_units: int = attrs.field(default=16384, validator=_positive)
    #: Most sub-messages in one aggregate message.  Each becomes a message and an
    #: event, so 8 MiB of empty 15-byte sub-messages would cost ten times that;
    #: servers aggregate tens to hundreds of media messages at a time.
    max_aggregate_messages: int = attrs.field(default=16384, validator=_positive)


#: The limits used when none are given.
DEFAULT_LIMITS = Limits()
