"""Publish an FLV file with librtmp, the library of rtmpdump (and of OBS before its fork),
through ctypes: ``python tests/librtmp_publish.py FILE.flv URL [--realtime]``.

librtmp is what many encoders and cameras publish with.  rtmpdump only plays, so this
drives the library's publishing side directly: ``RTMP_EnableWrite``, ``RTMP_Connect``,
``RTMP_ConnectStream`` (releaseStream, FCPublish, createStream, publish), then
``RTMP_Write`` with the file's bytes (librtmp cuts the FLV into messages itself and
sends ``onMetaData`` as ``@setDataFrame``), then ``RTMP_Close`` (FCUnpublish,
deleteStream).  Exits 0 when all of the file was sent, 1 with a line on stderr if
librtmp failed, 3 if there is no librtmp.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import struct
import sys
import time


def load_librtmp() -> ctypes.CDLL | None:
    for name in (ctypes.util.find_library("rtmp"), "librtmp.so.1"):
        if name:
            try:
                library = ctypes.CDLL(name)
            except OSError:
                continue
            library.RTMP_Alloc.restype = ctypes.c_void_p
            for function in ("RTMP_Init", "RTMP_EnableWrite", "RTMP_Close", "RTMP_Free"):
                getattr(library, function).argtypes = [ctypes.c_void_p]
                getattr(library, function).restype = None
            library.RTMP_SetupURL.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            library.RTMP_Connect.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            library.RTMP_ConnectStream.argtypes = [ctypes.c_void_p, ctypes.c_int]
            library.RTMP_Write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
            library.RTMP_IsConnected.argtypes = [ctypes.c_void_p]
            return library
    return None


def tags(data: bytes) -> list[tuple[int, bytes]]:
    """The FLV's tags (each with its previous-tag-size) and their timestamps.  The first
    one comes with the file header: librtmp skips a header only at the start of a
    write, and reads past the end of a write that holds nothing else."""
    offset = start = struct.unpack_from(">I", data, 5)[0] + 4
    out = []
    while offset + 11 <= len(data):
        size = int.from_bytes(data[offset + 1 : offset + 4], "big")
        timestamp = int.from_bytes(data[offset + 4 : offset + 7], "big") | data[offset + 7] << 24
        end = offset + 11 + size + 4
        out.append((timestamp, data[0 if offset == start else offset : end]))
        offset = end
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("url")
    parser.add_argument("--realtime", action="store_true", help="pace by the timestamps")
    options = parser.parse_args()
    library = load_librtmp()
    if library is None:
        print("librtmp_publish: no librtmp", file=sys.stderr)
        return 3
    with open(options.file, "rb") as file:
        data = file.read()
    rtmp = library.RTMP_Alloc()
    library.RTMP_Init(rtmp)
    url = ctypes.create_string_buffer(options.url.encode())  # librtmp keeps pointers into it
    if not library.RTMP_SetupURL(rtmp, url):
        print("librtmp_publish: RTMP_SetupURL failed", file=sys.stderr)
        return 1
    library.RTMP_EnableWrite(rtmp)
    try:
        if not library.RTMP_Connect(rtmp, None):
            print("librtmp_publish: RTMP_Connect failed", file=sys.stderr)
            return 1
        if not library.RTMP_ConnectStream(rtmp, 0):
            print("librtmp_publish: RTMP_ConnectStream failed", file=sys.stderr)
            return 1
        print("librtmp_publish: publishing", file=sys.stderr, flush=True)
        start = time.monotonic()
        first: int | None = None
        for timestamp, tag in tags(data):
            if options.realtime:
                first = timestamp if first is None else first
                delay = start + (timestamp - first) / 1000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if library.RTMP_Write(rtmp, tag, len(tag)) < 0 or not library.RTMP_IsConnected(rtmp):
                print("librtmp_publish: RTMP_Write failed", file=sys.stderr)
                return 1
        print("librtmp_publish: done", file=sys.stderr, flush=True)
        return 0
    finally:
        library.RTMP_Close(rtmp)
        library.RTMP_Free(rtmp)


if __name__ == "__main__":
    sys.exit(main())
