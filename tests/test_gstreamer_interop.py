"""Interop with GStreamer's RTMP elements: ``rtmp2sink`` publishes, ``rtmp2src`` plays.

They are GStreamer's own RTMP client (not librtmp), the one embedded and broadcast
pipelines built on GStreamer use: their own handshake, chunking (128-byte chunks unless
told otherwise), command sequence and end of stream.  GStreamer encodes live test media
and keeps a copy of exactly the FLV it publishes; what comes out at the far end is
compared with it packet by packet (ffprobe: payload, keyframe flag, times).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from peers import WAIT, Peers, SampleCache, compare_media, gstreamer, probe_packets
from server_support import publish_tags, read_tags, wait_for
from test_relay import ClientPlayer, players, relay_url, start_relay, start_tls_relay
from test_server import Recorder, start_server
from test_server import url as server_url

import trio_rtmp
from trio_rtmp.core import amf0
from trio_rtmp.media.flv import TagType
from trio_rtmp.media.flvfile import FlvTag
from trio_rtmp.media.frames import AudioSample, CodecConfig, VideoSample
from trio_rtmp.relay import AuthRequest, RelayConfig

pytestmark = pytest.mark.slow


# pytest-trio drops the reason of a skip raised inside a Trio test: find GStreamer first.
@pytest.fixture
def gst(peers: Peers) -> str:
    return gstreamer()


def counts(path: Path) -> dict[str, int]:
    """Audio and video packets, as ffprobe counts them (``test_relay.media_counts``
    counts every kind: ffprobe finds subtitle packets in what flvmux writes too)."""
    found = {"audio": 0, "video": 0}
    for packet in probe_packets(path):
        if packet.media in found:
            found[packet.media] += 1
    return found


def metadata(tags: list[FlvTag]) -> list[Any]:
    return [amf0.decode(tag.data) for tag in tags if tag.tag_type == TagType.SCRIPT]


@pytest.mark.parametrize("chunk_size", [128, 65536])
async def test_gstreamer_publishes_every_player_plays(
    peers: Peers, gst: str, tmp_path: Path, chunk_size: int
) -> None:
    """rtmp2sink publishes live H.264 (with B-frames) and AAC at its default chunk size
    and at 64 KiB; FFmpeg and our client play every packet it sent, the relay records
    them all, and its FCUnpublish and deleteStream end the stream for the players."""
    sent = tmp_path / "sent.flv"
    record_dir = tmp_path / "recordings"
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, RelayConfig(record_dir=str(record_dir)))
        url = relay_url(server, "gst")
        ffmpeg = peers.ffmpeg_play(url, tmp_path / "ffmpeg.flv")
        client = ClientPlayer(url)
        await nursery.start(client.run)
        await wait_for(lambda: players(relay, "gst") == 2, what="two players")
        publisher = peers.gstreamer_publish(url, sent, sink_options=[f"chunk-size={chunk_size}"])
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert await ffmpeg.wait_async() == 0, ffmpeg.log()
        with trio.fail_after(WAIT):
            await client.done.wait()
        assert client.error is None
        await wait_for(
            lambda: any(record_dir.glob("live/gst-*.flv")) and not relay.streams,
            what="the recording",
        )
        await trio.sleep(0.2)  # the recorder finishes the file after the stream ended
        server.stop()
    # 3 s of 30 fps video and 44.1 kHz AAC (1024 samples a frame, and the encoder's
    # priming).
    sent_counts = counts(sent)
    assert sent_counts["video"] == 90 and sent_counts["audio"] >= 129, sent_counts
    (recording,) = record_dir.glob("live/gst-*.flv")
    played = [tmp_path / "ffmpeg.flv", client.flv(tmp_path / "client.flv"), recording]
    for output in played:
        compare_media(sent, output).assert_ok(min_compared=90, max_source_left=0)
        assert counts(output) == sent_counts, output
    # flvmux sends onMetaData again whenever what it knows changes: our client gets
    # each one (FFmpeg keeps only the first).
    assert metadata(client.tags()) == metadata(read_tags(sent))


async def test_gstreamer_publishes_to_a_demuxing_handler(
    peers: Peers, gst: str, tmp_path: Path
) -> None:
    """rtmp2sink publishes to ``serve_rtmp`` with a handler that gets frames: one
    sample per packet GStreamer sent, with its keyframe flag, decoding time and
    composition offset (B-frames), each codec's configuration first, and the
    callbacks in order to the end of the stream."""
    sent = tmp_path / "sent.flv"
    log: list[tuple[Any, ...]] = []
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, lambda: Recorder(log))
        publisher = peers.gstreamer_publish(server_url(server, "live", "gst"), sent)
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        await wait_for(lambda: ("disconnect",) in log)
        server.stop()
    assert log[:2] == [("connect", "live"), ("publish", 1, "gst")]
    assert log[-2:] == [("delete_stream", 1), ("disconnect",)]
    video = [entry[2] for entry in log if entry[0] == "video"]
    audio = [entry[2] for entry in log if entry[0] == "audio"]
    assert isinstance(video[0], CodecConfig) and video[0].codec == "h264"
    assert isinstance(audio[0], CodecConfig) and audio[0].codec == "aac"
    assert video[0].info is not None and audio[0].info is not None
    assert (video[0].info.width, video[0].info.height) == (320, 240)
    assert (audio[0].info.sample_rate, audio[0].info.channels) == (44100, 2)
    packets = probe_packets(sent)
    source_video = [p for p in packets if p.media == "video"]
    samples = [f for f in video if isinstance(f, VideoSample)]
    assert [(s.dts, s.keyframe) for s in samples] == [(p.dts, p.keyframe) for p in source_video]
    assert [s.pts - s.dts for s in samples] == [p.composition_offset for p in source_video]
    assert any(s.pts != s.dts for s in samples)  # B-frames
    source_audio = [p.dts for p in packets if p.media == "audio"]
    assert [f.timestamp for f in audio if isinstance(f, AudioSample)] == source_audio


async def test_gstreamer_sees_a_refusal_and_passes_a_query_string(
    peers: Peers, gst: str, tmp_path: Path
) -> None:
    """The relay's auth hook refuses rtmp2sink a publish without the right token:
    GStreamer fails with our NetStream.Publish.BadName.  With ``?token=`` in its
    location the query string reaches the hook and the publish goes through, under
    the bare key."""
    seen: list[AuthRequest] = []

    async def auth(request: AuthRequest) -> bool:
        seen.append(request)
        return request.query.get("token") == "secret"

    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery, RelayConfig(auth=auth))
        refused = peers.gstreamer_publish(relay_url(server, "cam"), tmp_path / "refused.flv")
        assert await refused.wait_async(timeout=WAIT) != 0
        assert "NetStream.Publish.BadName" in refused.stderr() + refused.stdout(), refused.log()
        url = relay_url(server, "cam?token=secret")
        publisher = peers.gstreamer_publish(url, tmp_path / "sent.flv", seconds=1)
        await wait_for(lambda: ("live", "cam") in relay.streams, what="the publish")
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        server.stop()
    assert [(r.action, r.stream_key, r.query) for r in seen] == [
        ("publish", "cam", {}),
        ("publish", "cam", {"token": "secret"}),
    ]


async def test_gstreamer_publishes_over_rtmps(
    peers: Peers, gst: str, tls_certificate: Any, tmp_path: Path
) -> None:
    """rtmp2sink publishes over rtmps://, checking our certificate's name and dates
    (every check but the unknown test CA); FFmpeg plays it all over TLS too."""
    sent = tmp_path / "sent.flv"
    async with trio.open_nursery() as nursery:
        relay, server, verify = await start_tls_relay(nursery, tls_certificate)
        url = f"rtmps://127.0.0.1:{server.port}/live/tls"
        player = peers.ffmpeg_play(url, tmp_path / "played.flv", input_options=verify)
        await wait_for(lambda: players(relay, "tls") == 1, what="the TLS player")
        # GTlsCertificateFlags: everything (0x7f) but UNKNOWN_CA (0x01).
        publisher = peers.gstreamer_publish(
            url, sent, seconds=2, sink_options=["tls-validation-flags=0x7e"]
        )
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        assert await player.wait_async() == 0, player.log()
        server.stop()
    compare_media(sent, tmp_path / "played.flv").assert_ok(min_compared=60, max_source_left=0)


async def test_gstreamer_plays(
    peers: Peers, gst: str, sample_media: SampleCache, tmp_path: Path
) -> None:
    """rtmp2src plays what our client publishes through the relay, every packet, and
    ends at the relay's StreamEOF.

    The publisher ends with a data message (``onTextData``): GStreamer 1.22's rtmp2src
    may drop the last message it got before a StreamEOF (see
    :meth:`peers.Peers.gstreamer_play`), and here that is a message ffprobe does not
    count, so every audio and video packet is still checked."""
    sample = sample_media.get(seconds=3)
    tags = read_tags(sample)
    last = max(tag.timestamp for tag in tags)
    ending = FlvTag(TagType.SCRIPT, last, amf0.encode("onTextData", {"text": "the end"}))
    async with trio.open_nursery() as nursery:
        relay, server = await start_relay(nursery)
        url = relay_url(server, "to-gst")
        player = peers.gstreamer_play(url, tmp_path / "played.flv")
        await wait_for(lambda: players(relay, "to-gst") == 1, what="GStreamer playing")
        async with trio_rtmp.open_client(url) as client:
            await client.publish()
            await publish_tags(client, [*tags, ending], speed=1.0)
        assert await player.wait_async() == 0, player.log()
        server.stop()
    played = tmp_path / "played.flv"
    compare_media(sample, played).assert_ok(min_compared=60, max_source_left=0)
    assert counts(played) == counts(sample)
