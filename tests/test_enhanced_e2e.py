"""Enhanced RTMP end to end: our client publishes HEVC, AV1, VP9, Opus and FLAC as
Enhanced RTMP tags through our relay, and our client plays them back as frames.

No installed peer carries Enhanced RTMP (FFmpeg 5.1 cannot send it, nginx-rtmp 1.2
drops it), so this is the whole chain of our own: client publish -> server ->
relay fan-out -> client play -> demuxer.  The tags come from elementary streams that
FFmpeg made (the fixture of test_media_enhanced_streams.py); the frames that come out
must be exactly what demuxing the same tags locally gives.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from test_media_enhanced_streams import (  # the fixture and helpers are shared
    Stream,
    audio_tags,
    run_demuxer,
    streams,
    video_tags,
)

import trio_rtmp
from trio_rtmp.relay import Relay

__all__ = ["streams"]  # re-exported for pytest: the elementary streams fixture


@pytest.mark.parametrize(("video", "audio"), [("h265", "opus"), ("av1", "flac"), ("vp9", "opus")])
async def test_enhanced_rtmp_through_our_relay(
    streams: dict[str, Stream], video: str, audio: str
) -> None:
    tags = sorted(video_tags(streams[video]) + audio_tags(streams[audio]), key=lambda t: t[0])
    expected = run_demuxer(tags)
    got: list[Any] = []
    relay = Relay()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(relay.serve, 0)
            url = f"rtmp://127.0.0.1:{server.port}/live/enhanced"

            async def play(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
                async with trio_rtmp.open_client(url) as client:
                    await client.play()
                    task_status.started()
                    async for frame in client.frames:
                        got.append(frame)

            await nursery.start(play)
            async with trio_rtmp.open_client(url) as publisher:
                # The server echoed the Enhanced RTMP capabilities in its connect answer.
                assert "hvc1" in publisher.server_properties["fourCcList"]
                await publisher.publish()
                for timestamp, tag in tags:
                    await publisher.send_tag(timestamp, tag)
            # The publisher left: the player's frames end (UnpublishNotify), then stop.
            while ("live", "enhanced") in relay.streams:
                await trio.sleep(0.01)
            server.stop()
    assert got == expected
    assert {f.codec for f in got if isinstance(f, trio_rtmp.CodecConfig)} == {video, audio}
