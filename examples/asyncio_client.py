"""A minimal RTMP player on asyncio, built on the sans-IO core alone.

It plays a stream, counts the audio and video messages, and prints a JSON summary
when the stream ends or after ``--duration`` seconds.

    python examples/asyncio_client.py rtmp://127.0.0.1/live/key [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from trio_rtmp.core.connection import ClientConnection
from trio_rtmp.core.events import (
    AudioData,
    Connected,
    ConnectionClosed,
    ConnectRejected,
    PlayRejected,
    PlayStarted,
    PlayStopped,
    StreamCreated,
    StreamEnded,
    StreamMetadata,
    StreamUnpublished,
    VideoData,
)
from trio_rtmp.core.url import parse_url


async def play(url: str, duration: float) -> dict[str, object]:
    target = parse_url(url)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    conn = ClientConnection(random=os.urandom(1528), time=int(time.monotonic() * 1000))
    conn.connect(app=target.app, tc_url=target.tc_url)
    report: dict[str, object] = {"audio": 0, "video": 0, "metadata": None, "started": False}
    deadline = time.monotonic() + duration
    try:
        while True:
            writer.write(conn.data_to_send())
            await writer.drain()
            left = deadline - time.monotonic()
            if left <= 0:
                report["end"] = "duration"
                break
            try:
                data = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                report["end"] = "duration"
                break
            for event in conn.receive_data(data):
                if isinstance(event, Connected):
                    conn.create_stream()
                elif isinstance(event, StreamCreated):
                    conn.play(event.stream_id, target.stream_key)
                elif isinstance(event, PlayStarted):
                    report["started"] = True
                elif isinstance(event, AudioData):
                    report["audio"] += 1  # type: ignore[operator]
                elif isinstance(event, VideoData):
                    report["video"] += 1  # type: ignore[operator]
                elif isinstance(event, StreamMetadata):
                    report["metadata"] = event.metadata
                elif isinstance(event, ConnectRejected | PlayRejected):
                    report["error"] = f"{event.code}: {event.description}"
                    return report
                elif isinstance(event, StreamUnpublished | StreamEnded | PlayStopped):
                    report["end"] = type(event).__name__
                    return report
                elif isinstance(event, ConnectionClosed):
                    report["end"] = "closed"
                    return report
    finally:
        writer.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=10.0)
    options = parser.parse_args()
    report = asyncio.run(play(options.url, options.duration))
    print(json.dumps(report), flush=True)
    sys.exit(1 if "error" in report else 0)


if __name__ == "__main__":
    main()
