"""FLV files: an incremental reader and a writer, both sans-IO.

An FLV file is a 9-byte header, a zero "previous tag size", then tags, each followed by
its own size (11 + body length) as a back pointer.  A tag is an 11-byte header (tag
type, body size, 24+8-bit timestamp, stream id 0) and a body: an audio or video tag
body (see :mod:`trio_rtmp.media.flv`) or script data (AMF0, usually ``onMetaData``).

:class:`FlvReader` takes bytes in any pieces and returns :class:`FlvHeader`,
:class:`FlvTag` and, at the end, :class:`FlvEnd` events.  A file cut short (a
recording interrupted, a download stopped) ends with what was complete and
``FlvEnd(truncated=True)``; only bytes that cannot be FLV raise
:class:`~trio_rtmp.core.errors.RemoteProtocolError`.

:class:`FlvWriter` returns the bytes to write.  For a seekable output it puts
``duration`` and ``filesize`` in the ``onMetaData`` at the start of the file and, when
finished, hands back the patches to apply in place; for a pipe (stdout) it just
streams.  An ``onMetaData`` from the stream (``write_metadata``) given before the
first media tag is merged into that first script tag, as FFmpeg writes it; one given
later gets a tag of its own, stamped 0 as nginx-rtmp and rtmpdump write it (FFmpeg
reads an ``onMetaData`` stamped later than 0 as a subtitle stream).

.. code-block:: python

    writer = FlvWriter(seekable=True)
    with open("out.flv", "wb") as file:
        file.write(writer.write_metadata({"width": 1280.0, "height": 720.0}))
        for timestamp, tag in tags:
            file.write(writer.write(timestamp, tag))
        tail, patches = writer.finish()
        file.write(tail)
        for offset, data in patches:
            file.seek(offset)
            file.write(data)
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import attrs

from ..core import amf0
from ..core.amf import ECMAArray
from ..core.config import DEFAULT_LIMITS, Limits
from ..core.errors import LocalProtocolError, RemoteProtocolError
from ..core.timestamps import TimestampUnwrapper
from .flv import AnyTag, TagType, is_audio_sequence_header, parse_tag, video_info

__all__ = [
    "FlvEnd",
    "FlvEvent",
    "FlvFile",
    "FlvHeader",
    "FlvReader",
    "FlvTag",
    "FlvWriter",
    "read_flv",
]

_log = logging.getLogger(__name__)

_TAG_HEAD = struct.Struct(">II")
_TAG_HEADER = struct.Struct(">II3x")
_U32 = struct.Struct(">I")
_FLV_HEADER = struct.Struct(">3sBBI")
_MAX_TAG_BODY = 0xFFFFFF


@attrs.frozen(kw_only=True)
class FlvHeader:
    """The FLV file header."""

    #: File version (1).
    version: int = 1
    #: The TypeFlagsAudio bit.
    has_audio: bool = True
    #: The TypeFlagsVideo bit.
    has_video: bool = True
    #: DataOffset: the header's length (9 in every version-1 file).
    data_offset: int = 9

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.version <= 255:
            raise ValueError("version is one byte")
        if not 9 <= self.data_offset <= 0xFFFFFFFF:
            raise ValueError("data_offset must be at least 9")

    def to_bytes(self) -> bytes:
        """The header, padded with zeros up to ``data_offset``."""
        flags = (4 if self.has_audio else 0) | (1 if self.has_video else 0)
        head = _FLV_HEADER.pack(b"FLV", self.version, flags, self.data_offset)
        return head + bytes(self.data_offset - 9)


class FlvTag(NamedTuple):
    """One tag of an FLV file (a plain tuple: the reader makes one per tag)."""

    #: 8 audio, 9 video, 18 script data (other values are passed on as read).
    tag_type: int
    #: Timestamp in milliseconds (the 24-bit field plus the extension byte).
    timestamp: int
    #: The tag body.
    data: bytes
    #: The Filter bit (the body is encrypted or otherwise pre-processed).
    filtered: bool = False

    def parse(self) -> AnyTag:
        """The body as a tag object (see :func:`trio_rtmp.media.flv.parse_tag`)."""
        return parse_tag(self.tag_type, self.data)

    def script_values(self, *, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
        """A script tag's AMF0 values, e.g. ``["onMetaData", {...}]``."""
        if self.tag_type != TagType.SCRIPT:
            raise LocalProtocolError("only script tags (18) hold AMF values")
        return amf0.decode(self.data, limits=limits)


@attrs.frozen(kw_only=True)
class FlvEnd:
    """The end of the input (after ``receive_data(b"")``)."""

    #: True if the input stopped inside the header or a tag.
    truncated: bool
    #: How many bytes at the end were not part of a complete tag.
    unparsed: int = 0


#: What :meth:`FlvReader.receive_data` returns.
FlvEvent = FlvHeader | FlvTag | FlvEnd

_HEADER, _SKIP, _TAGS, _DONE = range(4)


class FlvReader:
    """An incremental FLV reader: bytes in, :data:`FlvEvent` values out.

    ``limits.max_message_size`` bounds the size of one tag body (checked before the
    body is buffered).  Back pointers that disagree with the tag size are tolerated
    (many writers get them wrong) and counted in :attr:`previous_tag_size_mismatches`.
    """

    def __init__(self, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._state = _HEADER
        self._skip = 0
        #: Tags read so far.
        self.tags_read = 0
        #: Tags whose back pointer did not say 11 + body size.
        self.previous_tag_size_mismatches = 0
        #: The header, once read.
        self.header: FlvHeader | None = None

    def receive_data(self, data: bytes) -> list[FlvEvent]:
        """Feed bytes; ``b""`` means the end of the file.  Returns the new events."""
        if self._state == _DONE:
            if data:
                raise LocalProtocolError("FlvReader got data after the end of the file")
            return []
        events: list[FlvEvent] = []
        buffer = self._buffer
        buffer += data
        if self._state == _HEADER:
            self._read_header(events)
        if self._state == _SKIP and buffer:
            skipped = min(self._skip, len(buffer))
            del buffer[:skipped]
            self._skip -= skipped
            if not self._skip:
                self._state = _TAGS
        if self._state == _TAGS and len(buffer) >= 11:
            self._read_tags(events)
        if not data:
            self._finish(events)
        return events

    def _read_header(self, events: list[FlvEvent]) -> None:
        buffer = self._buffer
        if buffer[:3] != b"FLV"[: len(buffer)]:
            raise RemoteProtocolError("not an FLV file (no FLV signature)")
        if len(buffer) < 9:
            return
        _signature, version, flags, offset = _FLV_HEADER.unpack_from(buffer)
        if not 9 <= offset <= self._limits.max_message_size:
            raise RemoteProtocolError(f"FLV header size {offset} is out of range")
        self.header = FlvHeader(
            version=version,
            has_audio=bool(flags & 4),
            has_video=bool(flags & 1),
            data_offset=offset,
        )
        events.append(self.header)
        del buffer[:9]
        # The rest of the header, then PreviousTagSize0.
        self._skip = offset - 9 + 4
        self._state = _SKIP

    def _read_tags(self, events: list[FlvEvent]) -> None:
        buffer = self._buffer
        limit = min(self._limits.max_message_size, _MAX_TAG_BODY)
        unpack = _TAG_HEAD.unpack_from
        unpack_u32 = _U32.unpack_from
        position = 0
        end = len(buffer)
        count = 0
        with memoryview(buffer) as view:
            while end - position >= 11:
                first, stamp = unpack(buffer, position)
                size = first & 0xFFFFFF
                if size > limit:
                    raise RemoteProtocolError(f"FLV tag of {size} bytes is over the limit")
                stop = position + 11 + size
                if stop + 4 > end:
                    break
                if unpack_u32(buffer, stop)[0] != size + 11:
                    self.previous_tag_size_mismatches += 1
                kind = first >> 24
                events.append(
                    FlvTag(
                        kind & 0x1F,
                        (stamp >> 8) | ((stamp & 0xFF) << 24),
                        bytes(view[position + 11 : stop]),
                        bool(kind & 0x20),
                    )
                )
                count += 1
                position = stop + 4
        self.tags_read += count
        del buffer[:position]

    def _finish(self, events: list[FlvEvent]) -> None:
        buffer = self._buffer
        truncated = self._state != _TAGS or bool(buffer)
        if self._state == _TAGS and len(buffer) >= 11:
            first, stamp = _TAG_HEAD.unpack_from(buffer)
            size = first & 0xFFFFFF
            if 11 + size <= len(buffer):
                # The tag is whole; only its back pointer is missing.
                kind = first >> 24
                events.append(
                    FlvTag(
                        kind & 0x1F,
                        (stamp >> 8) | ((stamp & 0xFF) << 24),
                        bytes(buffer[11 : 11 + size]),
                        bool(kind & 0x20),
                    )
                )
                self.tags_read += 1
                del buffer[: 11 + size]
        if truncated:
            _log.debug("FLV input ended inside a tag or the header (%d bytes left)", len(buffer))
        events.append(FlvEnd(truncated=truncated, unparsed=len(buffer)))
        buffer.clear()
        self._state = _DONE


@attrs.frozen(kw_only=True)
class FlvFile:
    """A whole FLV file as read by :func:`read_flv`."""

    #: The file header (``None`` if the file ended before it).
    header: FlvHeader | None
    #: Every tag, in order.
    tags: list[FlvTag]
    #: The value of the first ``onMetaData`` script tag, if any.
    metadata: dict[str, Any] | None
    #: Whether the file was cut short.
    truncated: bool


def read_flv(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> FlvFile:
    """Read a whole FLV file held in memory."""
    reader = FlvReader(limits=limits)
    events = reader.receive_data(data) + reader.receive_data(b"")
    tags = [event for event in events if type(event) is FlvTag]
    metadata = None
    for tag in tags:
        if tag.tag_type == TagType.SCRIPT:
            values = tag.script_values(limits=limits)
            if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
                metadata = values[1]
                break
    end = events[-1]
    assert type(end) is FlvEnd
    return FlvFile(header=reader.header, tags=tags, metadata=metadata, truncated=end.truncated)


class FlvWriter:
    """Writes an FLV file: each call returns the bytes to append.

    The header goes out with the first tag (so that an ``onMetaData`` seen before any
    media can join the first script tag).  With ``seekable=True`` that script tag
    always exists and ends with ``duration`` and ``filesize`` numbers, which
    :meth:`finish` returns as in-place patches ``[(file_offset, bytes)]``.
    """

    def __init__(
        self, *, has_audio: bool = True, has_video: bool = True, seekable: bool = False
    ) -> None:
        self._header = FlvHeader(has_audio=has_audio, has_video=has_video)
        self._seekable = seekable
        self._metadata: dict[str, Any] | None = None
        self._started = False
        self._finished = False
        self._position = 0
        # The media tags' first and last times, extended past the 32-bit wrap.
        self._unwrap = TimestampUnwrapper()
        self._first_timestamp: int | None = None
        self._last_timestamp = 0
        self._duration_offset = -1
        self._filesize_offset = -1

    @property
    def position(self) -> int:
        """How many bytes the writer has returned so far."""
        return self._position

    def write_metadata(self, values: Mapping[str, Any]) -> bytes:
        """Record an ``onMetaData``; before any media tag it joins the file's first tag.

        Later, it is a script tag of its own at timestamp 0 (FFmpeg skips an
        ``onMetaData`` at 0, but makes a subtitle stream of one stamped later).
        Returns the bytes to write (``b""`` while it waits for the first media tag).
        """
        self._check_open()
        if not self._started:
            self._metadata = dict(values)
            return b""
        data = amf0.encode("onMetaData", ECMAArray(values))
        return self._emit(self._tag(TagType.SCRIPT, 0, data))

    def write_tag(
        self, tag_type: int, timestamp: int, data: bytes, *, filtered: bool = False
    ) -> bytes:
        """Append one tag: type (8, 9, 18, ...), timestamp (ms) and body.

        FLV timestamps are 32-bit, as RTMP's: a later one (a demuxer's, past the wrap)
        is written modulo 2**32, and the duration counts across the wrap.
        ``filtered`` sets the tag's Filter bit (pre-processed, e.g. encrypted, body).
        """
        self._check_open()
        if not 0 <= tag_type <= 31:
            raise LocalProtocolError("the FLV tag type is 5 bits")
        if timestamp < 0:
            raise LocalProtocolError(f"timestamp {timestamp} is negative")
        if len(data) > _MAX_TAG_BODY:
            raise LocalProtocolError("an FLV tag body is at most 16 MiB - 1")
        prefix = b"" if self._started else self._start()
        timestamp &= 0xFFFFFFFF
        if (tag_type == TagType.VIDEO and not video_info(data)[1]) or (
            tag_type == TagType.AUDIO and not is_audio_sequence_header(data)
        ):
            # Media time (sequence headers are often stamped 0, whenever the media
            # starts).
            extended = self._unwrap(timestamp)
            if self._first_timestamp is None:
                self._first_timestamp = self._last_timestamp = extended
            self._last_timestamp = max(self._last_timestamp, extended)
        kind = tag_type | 0x20 if filtered else tag_type
        return self._emit(prefix + self._tag(kind, timestamp, data))

    def write(self, timestamp: int, tag: AnyTag) -> bytes:
        """Append one tag object (what the muxer returns and ``send_tag`` takes)."""
        return self.write_tag(tag.tag_type, timestamp, tag.to_bytes())

    def write_tags(self, tags: Iterable[tuple[int, AnyTag]]) -> bytes:
        """Append many ``(timestamp, tag)`` pairs."""
        return b"".join(self.write(timestamp, tag) for timestamp, tag in tags)

    def finish(self) -> tuple[bytes, list[tuple[int, bytes]]]:
        """End the file: the last bytes to append, and the in-place patches (if seekable)."""
        self._check_open()
        tail = b"" if self._started else self._emit(self._start())
        self._finished = True
        if not self._seekable:
            return tail, []
        first = self._first_timestamp or 0
        duration = (self._last_timestamp - first) / 1000 if self._first_timestamp is not None else 0
        return tail, [
            (self._duration_offset, struct.pack(">d", duration)),
            (self._filesize_offset, struct.pack(">d", float(self._position))),
        ]

    def _check_open(self) -> None:
        if self._finished:
            raise LocalProtocolError("the FlvWriter is finished")

    def _emit(self, data: bytes) -> bytes:
        self._position += len(data)
        return data

    def _start(self) -> bytes:
        self._started = True
        head = self._header.to_bytes() + b"\x00\x00\x00\x00"
        if self._metadata is None and not self._seekable:
            return head
        values = ECMAArray(self._metadata or {})
        if self._seekable:
            # Last, so that they are found (and patched) at a known place.
            values.pop("duration", None)
            values.pop("filesize", None)
            values["duration"] = 0.0
            values["filesize"] = 0.0
        body = amf0.encode("onMetaData", values)
        if self._seekable:
            base = self._position + len(head) + 11
            self._duration_offset = base + body.rfind(b"\x00\x08duration\x00") + 11
            self._filesize_offset = base + body.rfind(b"\x00\x08filesize\x00") + 11
        return head + self._tag(TagType.SCRIPT, 0, body)

    @staticmethod
    def _tag(tag_type: int, timestamp: int, data: bytes) -> bytes:
        size = len(data)
        head = _TAG_HEADER.pack(
            (tag_type << 24) | size, ((timestamp & 0xFFFFFF) << 8) | (timestamp >> 24)
        )
        return b"".join((head, data, _U32.pack(size + 11)))
