"""A minimal RTMP server on asyncio, built on the sans-IO core alone.

It accepts every publisher, counts what each one sends, and prints one JSON line per
publishing session when it ends.  No Trio here: the point is that the protocol core
runs on any event loop.

    python examples/asyncio_server.py [--host 127.0.0.1] [--port 1935] [--once]

Then publish, e.g. ``ffmpeg -re -i input.flv -c copy -f flv rtmp://127.0.0.1/live/key``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from trio_rtmp.core.connection import ServerConnection
from trio_rtmp.core.errors import ProtocolError
from trio_rtmp.core.events import (
    AudioData,
    ConnectRequest,
    Event,
    PlayRequest,
    PublishRequest,
    StreamClosed,
    StreamDeleted,
    StreamMetadata,
    VideoData,
)


class Session:
    """Counts for one publishing stream."""

    def __init__(self, app: str, stream_key: str) -> None:
        self.report: dict[str, Any] = {
            "app": app,
            "stream_key": stream_key,
            "audio": 0,
            "video": 0,
            "audio_bytes": 0,
            "video_bytes": 0,
            "metadata": None,
        }

    def finish(self) -> None:
        print(json.dumps(self.report), flush=True)


async def serve_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, finished: asyncio.Event
) -> None:
    conn = ServerConnection(random=os.urandom(1528), time=int(time.monotonic() * 1000))
    sessions: dict[int, Session] = {}

    def handle(event: Event) -> None:
        if isinstance(event, ConnectRequest):
            conn.accept_connect()
        elif isinstance(event, PublishRequest):
            conn.accept_publish(event.stream_id)
            sessions[event.stream_id] = Session(conn.app, event.stream_key)
        elif isinstance(event, PlayRequest):
            conn.reject_play(event.stream_id, "This server only receives.")
        elif isinstance(event, AudioData | VideoData) and event.stream_id in sessions:
            kind = "audio" if isinstance(event, AudioData) else "video"
            report = sessions[event.stream_id].report
            report[kind] += 1
            report[f"{kind}_bytes"] += len(event.payload)
        elif isinstance(event, StreamMetadata) and event.stream_id in sessions:
            sessions[event.stream_id].report["metadata"] = event.metadata
        elif isinstance(event, StreamClosed | StreamDeleted):
            if event.stream_id in sessions:
                sessions.pop(event.stream_id).finish()
            finished.set()

    try:
        while True:
            data = await reader.read(65536)
            conn.feed_data(data)  # b"": the client closed
            # In steps (each decodes at most Limits.max_amf_message_size of AMF), with
            # the other clients served in between: one read may complete many messages.
            while conn.has_pending_input:
                for event in conn.next_events():
                    handle(event)
                writer.write(conn.data_to_send())
                await writer.drain()
                await asyncio.sleep(0)
            if not data:
                break
    except (ProtocolError, ConnectionError) as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
    finally:
        for session in sessions.values():
            session.finish()
            finished.set()
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1935, help="0: any free port")
    parser.add_argument("--once", action="store_true", help="exit after one publishing session")
    options = parser.parse_args()
    finished = asyncio.Event()
    server = await asyncio.start_server(
        lambda r, w: serve_client(r, w, finished), options.host, options.port
    )
    port = server.sockets[0].getsockname()[1]  # the one picked, with --port 0
    print(f"listening on rtmp://{options.host}:{port}", flush=True)
    async with server:
        if options.once:
            await finished.wait()
        else:
            await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
