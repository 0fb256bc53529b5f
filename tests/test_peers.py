"""The real-peer test infrastructure (tests/peers.py, tests/conftest.py) against real peers.

These are also the first interop smoke tests: FFmpeg publishing into nginx-rtmp and
playing back, rtmpdump playing, nginx-rtmp's on_publish/on_play hooks, an RTMPS front,
a recording proxy whose bytes our sans-IO core parses, and FFmpeg as an RTMP server.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from peers import (
    WAIT,
    HookServer,
    NginxRtmp,
    Peers,
    RecordingProxy,
    SampleCache,
    compare_media,
    compare_packets,
    decode_errors,
    free_port,
    make_tls_certificate,
    peer_binary,
    port_is_listening,
    probe_packets,
    probe_streams,
    wait_for_listen,
    wait_for_listen_async,
)

from trio_rtmp.core.chunks import ChunkReader
from trio_rtmp.core.messages import Command, Video, decode_message

pytestmark = pytest.mark.interop

HANDSHAKE = 1 + 1536 + 1536  # C0 C1 C2 (or S0 S1 S2)


def commands(data: bytes) -> list[Command]:
    """The AMF0 commands in one direction of a recorded RTMP connection (after the handshake)."""
    reader = ChunkReader()
    found = []
    for message in reader.receive_data(data[HANDSHAKE:]):
        decoded = decode_message(message)
        if isinstance(decoded, Command):
            found.append(decoded)
    return found


def status_codes(found: list[Command]) -> list[str]:
    return [
        c.arguments[0].get("code", "")
        for c in found
        if c.name == "onStatus" and c.arguments and isinstance(c.arguments[0], dict)
    ]


def test_sample_is_h264_with_bframes_and_aac(sample_flv: Path) -> None:
    streams = {s.media: s for s in probe_streams(sample_flv)}
    assert streams["video"].codec == "h264"
    assert (streams["video"].width, streams["video"].height) == (320, 240)
    assert streams["audio"].codec == "aac"
    assert streams["audio"].sample_rate == 44100
    packets = probe_packets(sample_flv)
    video = [p for p in packets if p.media == "video"]
    assert 95 <= len(video) <= 105  # 4 s at 25 fps
    assert sum(p.keyframe for p in video) == 4  # a 1 s closed GOP
    assert any(p.composition_offset for p in video), "no B-frames (pts == dts everywhere)"
    assert len([p for p in packets if p.media == "audio"]) > 150  # 44.1 kHz / 1024
    assert decode_errors(sample_flv) == ""


def test_compare_helper_sees_differences(sample_flv: Path, sample_media: SampleCache) -> None:
    """The comparison the interop tests rely on does fail on a dropped, a changed and a
    retimed packet, and on a different source."""
    source = probe_packets(sample_flv)
    assert compare_media(source, source).ok
    video_indices = [i for i, p in enumerate(source) if p.media == "video"]

    dropped = list(source)
    del dropped[video_indices[30]]
    assert compare_packets(source, dropped, media="video").mismatched > 0
    assert compare_packets(source, dropped, media="audio").ok

    changed = list(source)
    target = changed[video_indices[40]]
    changed[video_indices[40]] = target._replace(data_hash="MD5:0", size=target.size + 1)
    assert compare_packets(source, changed, media="video").mismatched == 1

    retimed = list(source)
    target = retimed[video_indices[50]]
    assert target.dts is not None
    retimed[video_indices[50]] = target._replace(dts=target.dts + 40)
    assert compare_packets(source, retimed, media="video").mismatched == 1

    # A join mid-stream: the packets before the second keyframe are skipped.
    joined = source[video_indices[10] :]
    comparison = compare_packets(source, joined, media="video")
    assert comparison.ok and comparison.skipped > 0 and comparison.source_join == 25

    other = probe_packets(sample_media.get(seconds=1, bframes=False, size="160x120"))
    assert not compare_media(source, other).ok


def test_process_helpers(peers: Peers) -> None:
    """run_for stops a peer that would run forever (politely), and waits fail with the log."""
    endless = peers.start(
        ["ffmpeg", "-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=rate=5",
         "-f", "null", "-"],
        "endless",
    )  # fmt: skip
    started = time.monotonic()
    code = endless.run_for(0.5)
    assert time.monotonic() - started < 5
    assert code == 255, endless.log()  # FFmpeg's status after a SIGTERM it handled
    assert "Exiting normally, received signal 15" in endless.stderr()
    with pytest.raises(pytest.fail.Exception, match="nothing listened"):
        wait_for_listen(free_port(), timeout=0.2)
    quick = peers.start(["ffmpeg", "-hide_banner", "-bogus-option"], "bogus")
    with pytest.raises(pytest.fail.Exception, match="Unrecognized option"):
        quick.expect_exit(0)
    assert peer_binary("ffprobe").endswith("ffprobe")


def test_ffmpeg_publish_and_play_through_nginx(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    nginx_rtmp = peers.nginx_rtmp(live_directives="play_restart on;")
    output = tmp_path / "played.flv"
    # The player first, so it sees the stream from its first packet.
    player = peers.ffmpeg_play(nginx_rtmp.url("live", "smoke"), output)
    nginx_rtmp.wait_for_log("play: name='smoke'")
    publisher = peers.ffmpeg_publish(nginx_rtmp.url("live", "smoke"), sample_flv)
    publisher.expect_exit(0, timeout=WAIT + 4)
    player.expect_exit(0)  # nginx ends the stream for its players when the publisher leaves
    assert {s.media: s.codec for s in probe_streams(output)} == {"video": "h264", "audio": "aac"}
    comparison = compare_media(sample_flv, output)
    # Everything, from the first packet: nothing skipped, nothing lost at the end.
    comparison.assert_ok(min_compared=90, max_source_left=0)
    assert comparison.streams["video"].skipped == 0
    assert decode_errors(output) == ""


def test_rtmpdump_plays_from_nginx(peers: Peers, sample_media: SampleCache, tmp_path: Path) -> None:
    source = sample_media.get(seconds=3)
    # wait_key: a player joining mid-stream starts at a keyframe, so it decodes cleanly.
    nginx = peers.nginx_rtmp(wait_key=True)
    publisher = peers.ffmpeg_publish(nginx.url("live", "dump"), source)
    nginx.wait_for_publish("dump")
    output = tmp_path / "dump.flv"
    dump = peers.rtmpdump_play(nginx.url("live", "dump"), output, idle_timeout=2)
    publisher.expect_exit(0, timeout=WAIT + 3)
    # rtmpdump ignores the end of a live stream and leaves once idle for 2 s.
    code = dump.wait(timeout=WAIT)
    assert code == 2, dump.log()  # RD_INCOMPLETE: what rtmpdump says of any live stream
    assert {s.media: s.codec for s in probe_streams(output)} == {"video": "h264", "audio": "aac"}
    comparison = compare_media(source, output)
    comparison.assert_ok(min_compared=20, max_source_left=0)
    assert comparison.streams["video"].skipped == 0  # wait_key: the first frame is a keyframe
    assert decode_errors(output) == ""


def test_on_publish_and_on_play_hooks(
    peers: Peers,
    http_hook_server: HookServer,
    recording_proxy: Callable[[int], RecordingProxy],
    sample_media: SampleCache,
    tmp_path: Path,
) -> None:
    hooks = http_hook_server
    hooks.refused.update({"banned", "secret"})
    nginx = peers.nginx_rtmp(
        on_publish=hooks.url("/on_publish"),
        on_play=hooks.url("/on_play"),
        on_publish_done=hooks.url("/on_publish_done"),
    )
    source = sample_media.get(seconds=1)
    proxy = recording_proxy(nginx.port)

    refused = peers.ffmpeg_publish(proxy.url("live", "banned"), source, realtime=False)
    refused.expect_failure()
    assert "Input/output error" in refused.stderr()
    [request] = hooks.wait_for("publish", "banned")
    assert request.status == 403
    assert request.path == "/on_publish"
    assert request.fields["app"] == "live"
    assert request.fields["addr"] == "127.0.0.1"
    assert request.fields["type"] == "live"
    assert request.fields["tcurl"] == f"rtmp://127.0.0.1:{proxy.port}/live"
    # How nginx-rtmp refuses: no error status at all, it just closes the connection.
    connection = proxy.connections[0]
    connection.wait_closed()
    answers = commands(connection.server_to_client)
    assert [c.name for c in answers if c.name != "onBWDone"] == ["_result", "_result"]
    assert not status_codes(answers)

    allowed = peers.ffmpeg_publish(nginx.url("live", "fine"), source, realtime=False)
    allowed.expect_exit(0)
    [request] = hooks.wait_for("publish", "fine")
    assert request.status == 200
    [done] = hooks.wait_for("publish_done", "fine")
    assert done.path == "/on_publish_done"

    refused_player = peers.ffmpeg_play(nginx.url("live", "secret"), tmp_path / "no.flv")
    refused_player.expect_failure()
    [request] = hooks.wait_for("play", "secret")
    assert request.status == 403
    assert request.path == "/on_play"
    assert [r.call for r in hooks.requests] == ["publish", "publish", "publish_done", "play"]


def test_rtmps_front(peers: Peers, sample_media: SampleCache, tmp_path: Path) -> None:
    nginx = peers.nginx_rtmp(tls=True)
    assert nginx.tls_port is not None
    context = nginx.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", nginx.tls_port), timeout=WAIT) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        c1 = bytes(8) + bytes(i % 251 for i in range(1528))  # time 0, zero version: simple
        tls.sendall(b"\x03" + c1)
        received = b""
        deadline = time.monotonic() + WAIT
        while len(received) < HANDSHAKE:
            assert time.monotonic() < deadline
            more = tls.recv(65536)
            assert more, f"nginx closed after {len(received)} bytes"
            received += more
    assert received[0] == 3
    assert received[1 + 1536 :] == c1  # S2 echoes a simple (digest-less) C1
    # The name is checked too, and the CA is needed.
    with (
        socket.create_connection(("127.0.0.1", nginx.tls_port), timeout=WAIT) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
    with (
        socket.create_connection(("127.0.0.1", nginx.tls_port), timeout=WAIT) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="example.com")

    # FFmpeg publishes over RTMPS, verifying the certificate with the test CA.
    source = sample_media.get(seconds=1)
    publisher = peers.ffmpeg_publish(
        nginx.url("live", "secure", tls=True),
        source,
        realtime=False,
        extra=["-tls_verify", "1", "-ca_file", str(nginx.ca_path)],
    )
    publisher.expect_exit(0)
    nginx.wait_for_publish("secure")
    # ... and really verifies it: another CA is refused.
    stranger = make_tls_certificate(tmp_path / "other-ca")
    refused = peers.ffmpeg_publish(
        nginx.url("live", "unverified", tls=True),
        source,
        realtime=False,
        extra=["-tls_verify", "1", "-ca_file", str(stranger.ca_path)],
    )
    refused.expect_failure()
    assert "publish: name='unverified'" not in nginx.log()


def test_recording_proxy_captures_ffmpeg_and_nginx(
    peers: Peers,
    nginx_rtmp: NginxRtmp,
    recording_proxy: Callable[[int], RecordingProxy],
    sample_media: SampleCache,
) -> None:
    source = sample_media.get(seconds=1)
    proxy = recording_proxy(nginx_rtmp.port)
    publisher = peers.ffmpeg_publish(proxy.url("live", "taped"), source, realtime=False)
    publisher.expect_exit(0)
    proxy.wait_for_connections(1)
    [connection] = proxy.connections
    connection.wait_closed()
    sent, answered = connection.client_to_server, connection.server_to_client
    assert sent[0] == 3 and answered[0] == 3
    assert len(sent) > HANDSHAKE and len(answered) > HANDSHAKE

    # Our sans-IO core reads both directions.
    reader = ChunkReader()
    messages = [decode_message(m) for m in reader.receive_data(sent[HANDSHAKE:])]
    assert reader.buffered_bytes == 0
    first = messages[0]
    assert isinstance(first, Command) and first.name == "connect"
    assert first.command_object["app"] == "live"
    assert first.command_object["tcUrl"] == f"rtmp://127.0.0.1:{proxy.port}/live"
    names = [m.name for m in messages if isinstance(m, Command)]
    assert names[:4] == ["connect", "releaseStream", "FCPublish", "createStream"]
    assert "publish" in names
    video_messages = [m for m in messages if isinstance(m, Video)]
    source_video = [p for p in probe_packets(source) if p.media == "video"]
    # Every frame, plus the sequence header (and FFmpeg's end-of-sequence tag).
    assert len(video_messages) >= len(source_video) + 1

    codes = status_codes(commands(answered))
    assert "NetStream.Publish.Start" in codes


def test_ffmpeg_listen_server_both_ways(
    peers: Peers, sample_media: SampleCache, tmp_path: Path
) -> None:
    source = sample_media.get(seconds=2)

    received = tmp_path / "received.flv"
    server, url = peers.ffmpeg_listen_server(output=received)
    port = int(url.split(":")[2].split("/")[0])
    assert port_is_listening(port)
    peers.ffmpeg_publish(url, source, realtime=False).expect_exit(0)
    server.expect_exit(0)
    compare_media(source, received).assert_ok(min_compared=40, max_source_left=0)

    played = tmp_path / "played.flv"
    server, url = peers.ffmpeg_listen_server(source=source, realtime=False)
    peers.ffmpeg_play(url, played).expect_exit(0)
    server.expect_exit(0)
    compare_media(source, played).assert_ok(min_compared=40, max_source_left=0)


async def test_async_helpers_keep_the_trio_loop_running(peers: Peers, sample_flv: Path) -> None:
    """In a Trio test a peer can talk to a server running in the same loop while the
    test waits for the peer.

    (``sample_flv``, a sync fixture, checks for FFmpeg before Trio starts: pytest-trio
    drops the reason of a skip raised inside the test.)
    """
    source = sample_flv
    [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    await wait_for_listen_async(port)
    received = bytearray()

    async def serve_one() -> None:
        async with await listener.accept() as stream:
            while len(received) < 1 + 1536:
                data = await stream.receive_some(65536)
                if not data:
                    break
                received.extend(data)
        # Closing on FFmpeg after C0+C1 fails its publish.

    with trio.fail_after(WAIT):
        async with listener, trio.open_nursery() as nursery:
            nursery.start_soon(serve_one)
            publisher = peers.ffmpeg_publish(
                f"rtmp://127.0.0.1:{port}/live/x", source, realtime=False
            )
            code = await publisher.wait_async()
    assert code != 0, publisher.log()
    assert received[0] == 3 and len(received) >= 1 + 1536

    endless = peers.start(
        ["ffmpeg", "-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc=rate=5",
         "-f", "null", "-"],
        "endless",
    )  # fmt: skip
    with trio.fail_after(WAIT):
        assert await endless.run_for_async(0.3) == 255


@pytest.fixture
def hooked_nginx(peers: Peers, http_hook_server: HookServer) -> NginxRtmp:
    """nginx-rtmp asking the hook server about every publish (made before Trio starts)."""
    return peers.nginx_rtmp(on_publish=http_hook_server.url("/on_publish"))


async def test_async_waits_for_nginx_and_hooks(
    peers: Peers, hooked_nginx: NginxRtmp, http_hook_server: HookServer, sample_flv: Path
) -> None:
    publisher = peers.ffmpeg_publish(hooked_nginx.url("live", "trio"), sample_flv)
    with trio.fail_after(WAIT):
        await hooked_nginx.wait_for_publish_async("trio")
        [request] = await http_hook_server.wait_for_async("publish", "trio")
        assert request.status == 200
        await publisher.wait_for_log_async("Output #0")
        # A realtime publisher of a 4 s file is still running: stop it politely.
        assert await publisher.stop_async() == 255
