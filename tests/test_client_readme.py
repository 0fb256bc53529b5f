"""The client examples of the README, run as they are written, against nginx-rtmp.

Each string below is a code block of the README's client section, verbatim.  They are
executed here (``__name__`` is not ``"__main__"``, so their ``trio.run`` lines do not
run) and the functions they define are called with the URLs of a real nginx-rtmp.
Once the section is in README.md, every block must appear there unchanged, so the
documentation cannot drift from the code.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from peers import WAIT, NginxRtmp, Peers, SampleCache, free_port, probe_packets
from server_support import read_tags

import trio_rtmp
from trio_rtmp.media.flv import is_audio_sequence_header, video_info
from trio_rtmp.media.flvfile import FlvTag

README = Path(__file__).resolve().parent.parent / "README.md"
#: The heading of the client section (its examples are checked once it is there).
HEADING = "## The client: play and publish"

EXAMPLES = {
    "play": """\
import trio
import trio_rtmp


async def play(url):
    async with trio_rtmp.open_client(url) as client:
        await client.play()
        async for frame in client.frames:  # until the publisher stops
            match frame:
                case trio_rtmp.CodecConfig(media=media, codec=codec):
                    print(f"{media} codec {codec}")
                case trio_rtmp.VideoSample(dts=dts, pts=pts, keyframe=keyframe):
                    kind = "key" if keyframe else "inter"
                    print(f"video {dts} {pts} {kind}: {len(frame.payload)} NAL units")
                case trio_rtmp.AudioSample(timestamp=timestamp):
                    print(f"audio {timestamp}: {len(frame.payload)} bytes")
                case trio_rtmp.Metadata(name="onMetaData", value=value):
                    print(f"metadata {value['width']:.0f}x{value['height']:.0f}")


if __name__ == "__main__":
    trio.run(play, "rtmp://localhost/live/stream")
""",
    "publish": """\
import trio
import trio_rtmp
from trio_rtmp.media import read_flv


async def publish(path, url):
    with open(path, "rb") as file:
        flv = read_flv(file.read())
    async with trio_rtmp.open_client(url) as client:
        await client.publish()
        start = trio.current_time()
        for tag in flv.tags:  # metadata, sequence headers, audio and video
            await trio.sleep_until(start + tag.timestamp / 1000)  # in real time
            await client.send_tag(tag.timestamp, tag)
        print(client.statistics().bytes_sent, "bytes sent")
    # Leaving the block unpublishes (FCUnpublish, deleteStream) and disconnects.


if __name__ == "__main__":
    trio.run(publish, "video.flv", "rtmp://localhost/live/stream")
""",
    "errors": """\
import trio_rtmp


async def watch(url):
    try:
        async with trio_rtmp.open_client(url, connect_timeout=5) as client:
            await client.play()
            async for frame in client.frames:
                ...
    except trio_rtmp.StreamNotFound:
        print("nobody publishes", client.stream_key)
    except trio_rtmp.Refused as refusal:  # ConnectionRejected, PlayRejected...
        print("refused:", refusal.code)
    except trio_rtmp.ConnectionTimeout:
        print("no answer")
    except trio_rtmp.ConnectionClosed as error:  # ConnectionFailed: never connected
        print("connection lost:", error)
""",
    "rtmps": """\
import ssl
import trio_rtmp


async def check(url, ca_file=None):
    # Certificates are checked; ca_file trusts a private CA instead of the system's.
    context = ssl.create_default_context(cafile=ca_file)
    try:
        async with trio_rtmp.open_client(url, ssl_context=context) as client:
            return f"connected to {client.server_properties['fmsVer']}"
    except trio_rtmp.ConnectionFailed as error:
        return f"failed: {error}"
""",
    "reconnect": """\
import trio
import trio_rtmp
from trio_rtmp.media.flv import GopTrack, is_audio_sequence_header, track_ids, video_info


async def publish_following(url, tags):
    # Publish in real time; when the server asks, move at the next keyframe.
    async with trio.open_nursery() as nursery:
        client = await trio_rtmp.connect_client(nursery, url)
        await client.publish()
        start = trio.current_time()
        first = {}  # what a new server needs first: metadata, each track's headers
        gop = GopTrack()  # of a multitrack stream, the first video track's keyframes
        for tag in tags:
            await trio.sleep_until(start + tag.timestamp / 1000)
            if tag.tag_type == 9:
                key, header = video_info(tag.data)
                key = key and gop.starts_gop(tag.data)
            else:
                key, header = False, tag.tag_type == 18 or is_audio_sequence_header(tag.data)
            if header:
                first[tag.tag_type, track_ids(tag.tag_type, tag.data)] = tag
            elif key and client.reconnect_request is not None:
                target = client.reconnect_url  # the request's tcUrl, same stream key
                new = await trio_rtmp.connect_client(nursery, target.app_url, target.stream_key)
                await new.publish()
                for saved in first.values():
                    await new.send_tag(tag.timestamp, saved)
                await client.aclose()  # unpublish from the old server and leave it
                client = new
            await client.send_tag(tag.timestamp, tag)
        await client.aclose()
""",
    "keep_playing": """\
import trio
import trio_rtmp


async def keep_playing(url, on_frame):
    # Across publishers (follow=True) and lost connections, for good.
    delay = 1
    while True:
        try:
            async with trio_rtmp.open_client(url) as client:
                await client.play(follow=True)
                delay = 1
                async for frame in client.frames:
                    await on_frame(frame)
        except (trio_rtmp.ConnectionClosed, trio_rtmp.ConnectionTimeout) as exc:
            print(f"lost the stream ({exc}); again in {delay} s")
        await trio.sleep(delay)  # 1 s, 2 s, 4 s... up to 30 s between tries
        delay = min(delay * 2, 30)
""",
}


def load(name: str) -> dict[str, Any]:
    """Run an example's code and return what it defined."""
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(EXAMPLES[name], f"<README example {name}>", "exec"), namespace)
    return namespace


async def test_play_and_publish_examples(
    nginx_rtmp: NginxRtmp, sample_media: SampleCache, capsys: pytest.CaptureFixture[str]
) -> None:
    """The publish example feeds nginx-rtmp while the play example prints the frames."""
    sample = sample_media.get(seconds=2)
    play, publish = load("play")["play"], load("publish")["publish"]
    url = nginx_rtmp.url("live", "readme")
    with trio.fail_after(WAIT + 5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(play, url)
            # The player waits on the idle stream, so it sees the stream from the start.
            await nginx_rtmp.wait_for_play_async("readme")
            await publish(sample, url)
    lines = capsys.readouterr().out.splitlines()
    packets = probe_packets(sample)
    video = [p for p in packets if p.media == "video"]
    audio = [p for p in packets if p.media == "audio"]
    assert lines[0] == "metadata 320x240"
    assert sorted(line for line in lines if "codec" in line) == [
        "audio codec aac",
        "video codec h264",
    ]
    samples = [line for line in lines if "codec" not in line and "sent" not in line]
    assert [line.split(":")[0] for line in samples if line.startswith("video ")] == [
        f"video {p.dts} {p.pts} {'key' if p.keyframe else 'inter'}" for p in video
    ]
    assert [line for line in samples if line.startswith("audio ")] == [
        f"audio {p.dts}: {p.size} bytes" for p in audio
    ]
    [sent] = [line for line in lines if line.endswith(" bytes sent")]
    assert int(sent.split()[0]) > sum(p.size for p in packets)


async def test_errors_example(peers: Peers, capsys: pytest.CaptureFixture[str]) -> None:
    watch = load("errors")["watch"]
    nginx = peers.nginx_rtmp(idle_streams=False)
    with trio.fail_after(WAIT):
        await watch(nginx.url("live", "nobody"))
        await watch(nginx.url("nosuchapp", "x"))
        await watch(f"rtmp://127.0.0.1:{free_port()}/live/x")
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["nobody publishes nobody", "refused: NetConnection.Connect.Closed"]
    assert lines[2].startswith("connection lost: could not connect to 127.0.0.1:")
    assert len(lines) == 3


async def test_rtmps_example(peers: Peers) -> None:
    check = load("rtmps")["check"]
    nginx = peers.nginx_rtmp(tls=True)
    url = nginx.url("live", "key", tls=True)
    with trio.fail_after(WAIT):
        assert await check(url, str(nginx.ca_path)) == "connected to FMS/3,0,1,123"
        assert "CERTIFICATE_VERIFY_FAILED" in await check(url)


def test_readme_holds_the_examples_verbatim() -> None:
    text = README.read_text() if README.exists() else ""
    if HEADING not in text:
        pytest.skip("the client section is not in README.md yet")
    for name, code in EXAMPLES.items():
        assert code in text, f"README.md's {name!r} client example differs from the tested one"


class _Collector(trio_rtmp.ServerHandler):
    """Keeps what a publisher sends; with ``move_to``, asks it to go there after 10 tags."""

    def __init__(self, log: list[Any], move_to: str | None = None) -> None:
        self.log = log
        self.move_to = move_to
        self.asked_at: int | None = None

    async def on_metadata(self, stream_id: int, metadata: dict[str, Any]) -> None:
        self.log.append(("metadata", metadata["width"]))

    async def on_video(self, stream_id: int, data: Any) -> None:
        self.log.append(data)
        media = sum(isinstance(item, FlvTag) for item in self.log)
        if self.move_to is not None and self.asked_at is None and media >= 10:
            self.asked_at = media
            self.session.request_reconnect(self.move_to, "moving to another server")

    on_audio = on_video

    async def on_disconnect(self) -> None:
        self.log.append(("gone",))


async def test_reconnect_example(sample_media: SampleCache) -> None:
    """Server A asks the publisher to move to server B: the example moves at the next
    keyframe, B gets the metadata and sequence headers first, and between them the two
    servers get every media tag exactly once, in order."""
    publish_following = load("reconnect")["publish_following"]
    tags = read_tags(sample_media.get(seconds=3))
    got_a: list[Any] = []
    got_b: list[Any] = []
    handlers: list[_Collector] = []

    def make_a() -> _Collector:
        handlers.append(_Collector(got_a, f"rtmp://127.0.0.1:{server_b.port}/live"))
        return handlers[-1]

    async with trio.open_nursery() as nursery:
        server_b = await nursery.start(
            partial(
                trio_rtmp.serve_rtmp, lambda: _Collector(got_b), 0, host="127.0.0.1", demux=False
            )
        )
        server_a = await nursery.start(
            partial(trio_rtmp.serve_rtmp, make_a, 0, host="127.0.0.1", demux=False)
        )
        with trio.fail_after(WAIT + 5):
            await publish_following(f"rtmp://127.0.0.1:{server_a.port}/live/cam", tags)
            while got_b[-1:] != [("gone",)] or got_a[-1:] != [("gone",)]:
                await trio.sleep(0.01)
        server_a.stop()
        server_b.stop()

    def media(log: list[Any]) -> list[tuple[int, int, bytes]]:
        return [(t.tag_type, t.timestamp, t.data) for t in log if isinstance(t, FlvTag)]

    source = [(t.tag_type, t.timestamp, t.data) for t in tags if t.tag_type != 18]
    headers = sorted(m for m in source[:3] if (m[0] == 9 and video_info(m[2])[1]) or (m[0] == 8
                     and is_audio_sequence_header(m[2])))  # fmt: skip
    a, b = media(got_a), media(got_b)
    (asked_at,) = [h.asked_at for h in handlers]
    assert asked_at is not None
    # A: from the start up to the switch, which is the first keyframe after the request.
    assert got_a[0] == ("metadata", 320) and got_b[0] == ("metadata", 320)
    assert not any(kind == 9 and video_info(data)[0] for kind, _, data in a[asked_at:])
    # B: the sequence headers (stamped with the keyframe's time), then the rest.
    switch = b[2]
    assert sorted((kind, data) for kind, _, data in b[:2]) == [(k, d) for k, _, d in headers]
    assert switch[0] == 9 and video_info(switch[2])[0] and switch[1] > 0
    assert [t for _, t, _ in b[:2]] == [switch[1]] * 2
    assert a + b[2:] == source


async def test_keep_playing_example(
    sample_media: SampleCache, capsys: pytest.CaptureFixture[str]
) -> None:
    """The relay cuts the player's connection in the middle of a stream: the example
    connects again and plays on to the stream's last frame."""
    from trio_rtmp.relay import Relay

    keep_playing = load("keep_playing")["keep_playing"]
    tags = read_tags(sample_media.get(seconds=2))
    last_video = max(t.timestamp for t in tags if t.tag_type == 9)
    frames: list[Any] = []
    reached_end = trio.Event()

    async def on_frame(frame: Any) -> None:
        frames.append(frame)
        if isinstance(frame, trio_rtmp.VideoSample) and frame.dts == last_video:
            reached_end.set()

    relay = Relay()
    with trio.fail_after(WAIT + 10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(relay.serve, 0, host="127.0.0.1"))
            url = f"rtmp://127.0.0.1:{server.port}/live/kept"
            nursery.start_soon(keep_playing, url, on_frame)
            while not relay.streams.get(("live", "kept")):
                await trio.sleep(0.01)
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                half = len(tags) // 2
                for tag in tags[:half]:
                    await publisher.send_tag(tag.timestamp, tag)
                stream = relay.streams["live", "kept"]
                while not stream.players:
                    await trio.sleep(0.01)
                [(session, _stream_id)] = stream.players
                session.close()
                while not stream.players or (session, _stream_id) in stream.players:
                    await trio.sleep(0.01)
                for tag in tags[half:]:
                    await publisher.send_tag(tag.timestamp, tag)
                await reached_end.wait()
            nursery.cancel_scope.cancel()
        server.stop()
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("lost the stream (") and line.endswith("); again in 1 s")
    configs = [f for f in frames if isinstance(f, trio_rtmp.CodecConfig) and f.media == "video"]
    assert len(configs) == 2  # once per connection
