"""The sans-IO core fed with real bytes: what FFmpeg and nginx-rtmp said to each other.

A recording proxy sits between FFmpeg and nginx-rtmp.  FFmpeg's side of the
conversation goes into our ServerConnection, nginx's side into our ClientConnection;
the events must tell the same story (command sequence, every media message), and the
media must match what ffprobe counts in the source.  Also the asyncio examples, which
run the core on asyncio against FFmpeg and nginx-rtmp.
"""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from connection_pair import CLIENT_RANDOM, SERVER_RANDOM
from peers import (
    WAIT,
    NginxRtmp,
    Peers,
    RecordingProxy,
    SampleCache,
    probe_packets,
)

from trio_rtmp.core.connection import ClientConnection, ServerConnection
from trio_rtmp.core.events import (
    AudioData,
    Connected,
    ConnectRequest,
    Event,
    HandshakeComplete,
    PlayStarted,
    PublishRequest,
    StatusReceived,
    StreamBegun,
    StreamClosed,
    StreamCreated,
    StreamDeleted,
    StreamMetadata,
    VideoData,
)
from trio_rtmp.media.demux import Demuxer
from trio_rtmp.media.flvfile import read_flv
from trio_rtmp.media.frames import AudioSample, VideoSample

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def source_counts(path: Path) -> tuple[int, int]:
    """(video packets, audio packets) of a file, as ffprobe counts them."""
    packets = probe_packets(path)
    return (
        sum(p.media == "video" for p in packets),
        sum(p.media == "audio" for p in packets),
    )


def tag_counts(path: Path) -> tuple[int, int]:
    """(video tags, audio tags) of an FLV file: one RTMP message each when streamed."""
    flv = read_flv(path.read_bytes())
    return (
        sum(t.tag_type == 9 for t in flv.tags),
        sum(t.tag_type == 8 for t in flv.tags),
    )


def demux_counts(events: list[Event]) -> tuple[int, int]:
    demuxer = Demuxer()
    video = audio = 0
    for event in events:
        if isinstance(event, VideoData):
            frames = demuxer.video(event.timestamp, event.payload)
        elif isinstance(event, AudioData):
            frames = demuxer.audio(event.timestamp, event.payload)
        else:
            continue
        video += sum(isinstance(f, VideoSample) for f in frames)
        audio += sum(isinstance(f, AudioSample) for f in frames)
    return video, audio


def test_ffmpeg_publishing_into_our_server_core(
    peers: Peers,
    nginx_rtmp: NginxRtmp,
    recording_proxy: Callable[[int], RecordingProxy],
    sample_flv: Path,
) -> None:
    proxy = recording_proxy(nginx_rtmp.port)
    publisher = peers.ffmpeg_publish(proxy.url("live", "taped"), sample_flv, realtime=False)
    publisher.expect_exit(0, timeout=3 * WAIT)
    proxy.wait_for_connections(1)
    [connection] = proxy.connections
    connection.wait_closed()
    sent = connection.client_to_server

    server = ServerConnection(random=SERVER_RANDOM)
    events: list[Event] = []
    # Feed FFmpeg's bytes in the pieces the proxy saw, deciding as an application would.
    for piece in connection.client_to_server_pieces:
        for event in server.receive_data(piece):
            events.append(event)
            if isinstance(event, ConnectRequest):
                events += server.accept_connect()
            elif isinstance(event, PublishRequest):
                server.accept_publish(event.stream_id)
        server.data_to_send()
    assert sum(len(p) for p in connection.client_to_server_pieces) == len(sent)

    kinds = [type(e) for e in events if not isinstance(e, AudioData | VideoData)]
    assert kinds[:2] == [HandshakeComplete, ConnectRequest]
    assert events[0].peer_uses_digest  # type: ignore[attr-defined]
    [connect] = [e for e in events if isinstance(e, ConnectRequest)]
    assert connect.app == "live"
    assert connect.tc_url == f"rtmp://127.0.0.1:{proxy.port}/live"
    assert connect.flash_version.startswith("FMLE/3.0")
    # FFmpeg's publishing sequence, in order.
    assert [k for k in kinds if k in (StreamCreated, PublishRequest, StreamMetadata)] == [
        StreamCreated,
        PublishRequest,
        StreamMetadata,
    ]
    assert kinds[-2:] == [StreamClosed, StreamDeleted]  # FCUnpublish, then deleteStream
    [publish] = [e for e in events if isinstance(e, PublishRequest)]
    assert (publish.stream_key, publish.publish_type) == ("taped", "live")
    [metadata] = [e for e in events if isinstance(e, StreamMetadata)]
    assert metadata.metadata["width"] == 320.0

    # Every FLV tag of the source became one message; every packet one sample.
    video_messages = sum(isinstance(e, VideoData) for e in events)
    audio_messages = sum(isinstance(e, AudioData) for e in events)
    assert (video_messages, audio_messages) == tag_counts(sample_flv)
    assert demux_counts(events) == source_counts(sample_flv)


def test_nginx_serving_a_player_into_our_client_core(
    peers: Peers,
    nginx_rtmp: NginxRtmp,
    recording_proxy: Callable[[int], RecordingProxy],
    sample_flv: Path,
    tmp_path: Path,
) -> None:
    proxy = recording_proxy(nginx_rtmp.port)
    # The player comes first, so that it sees the whole stream.
    player = peers.ffmpeg_play(proxy.url("live", "watched"), tmp_path / "out.flv")
    nginx_rtmp.wait_for_play("watched")
    publisher = peers.ffmpeg_publish(nginx_rtmp.url("live", "watched"), sample_flv)
    publisher.expect_exit(0, timeout=3 * WAIT)
    [connection] = proxy.connections
    # nginx sends players only StreamEOF at the end, which FFmpeg ignores: stop it.
    connection.wait_for_bytes(server_to_client=sample_flv.stat().st_size // 2)
    player.run_for(1.0)
    connection.wait_closed()

    client = ClientConnection(random=CLIENT_RANDOM)
    client.connect(app="live", tc_url=f"rtmp://127.0.0.1:{proxy.port}/live")
    events: list[Event] = []
    for piece in connection.server_to_client_pieces:
        for event in client.receive_data(piece):
            events.append(event)
            # Ask for what FFmpeg asked for, in the same order (the transaction ids
            # of nginx's answers follow FFmpeg's: connect 1, createStream 2).
            if isinstance(event, Connected):
                client.create_stream()
            elif isinstance(event, StreamCreated):
                client.play(event.stream_id, "watched")
        client.data_to_send()

    kinds = [type(e) for e in events if not isinstance(e, AudioData | VideoData)]
    assert kinds[:2] == [HandshakeComplete, Connected]
    assert events[0].peer_uses_digest  # type: ignore[attr-defined]  # nginx answers in kind
    [connected] = [e for e in events if isinstance(e, Connected)]
    assert connected.information["code"] == "NetConnection.Connect.Success"
    assert StreamCreated in kinds and StreamBegun in kinds
    codes = [e.code for e in events if isinstance(e, StatusReceived)]
    assert "NetStream.Play.Start" in codes
    assert any(isinstance(e, PlayStarted) for e in events)
    assert any(isinstance(e, StreamMetadata) for e in events)
    video, audio = demux_counts(events)
    assert (video, audio) == source_counts(sample_flv)


def test_asyncio_server_example_counts_an_ffmpeg_publish(peers: Peers, sample_flv: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "asyncio_server.py"), "--port", "0", "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The port it picked, from its first line (a port picked here and passed in
        # could be taken by another process before the example binds it).
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], WAIT)
        assert ready, "the example printed nothing"
        listening = re.fullmatch(
            r"listening on rtmp://127\.0\.0\.1:(\d+)\n", server.stdout.readline()
        )
        assert listening, server.communicate(timeout=WAIT)
        port = int(listening.group(1))
        peers.ffmpeg_publish(f"rtmp://127.0.0.1:{port}/live/counted", sample_flv).expect_exit(
            0, timeout=3 * WAIT
        )
        out, err = server.communicate(timeout=WAIT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(WAIT)
    assert server.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert (report["app"], report["stream_key"]) == ("live", "counted")
    assert (report["video"], report["audio"]) == tag_counts(sample_flv)
    assert report["metadata"]["width"] == 320.0


@pytest.mark.parametrize("seconds", [4])
def test_asyncio_client_example_plays_from_nginx(
    peers: Peers, nginx_rtmp: NginxRtmp, sample_media: SampleCache, seconds: int
) -> None:
    source = sample_media.get(seconds=seconds)
    player = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "asyncio_client.py"),
            nginx_rtmp.url("live", "example"),
            "--duration",
            str(seconds + 3 * WAIT),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        nginx_rtmp.wait_for_play("example")
        peers.ffmpeg_publish(nginx_rtmp.url("live", "example"), source).expect_exit(
            0, timeout=3 * WAIT
        )
        out, err = player.communicate(timeout=2 * WAIT)
    finally:
        if player.poll() is None:
            player.kill()
            player.wait(WAIT)
    assert player.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["started"] is True
    # nginx ends a player's stream with StreamEOF when the publisher leaves.
    assert report["end"] == "StreamEnded"
    # A player that came before the publisher gets every message.
    assert (report["video"], report["audio"]) == tag_counts(source)
    assert report["metadata"]["width"] == 320.0
