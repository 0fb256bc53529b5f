"""The ``trio-rtmp`` command line, every command run as a subprocess.

``python -m trio_rtmp serve|play|publish|probe`` against each other, FFmpeg and
nginx-rtmp on loopback.  What comes out is checked with independent tools: ffprobe's
packets (payload MD5, keyframe flags, dts, pts) compared with the source from the
point where the output joined it (``peers.compare_media``).  Every process is started
through the ``peers`` fixture (logs kept, stopped by PID at teardown) and every wait
is bounded.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from peers import (
    WAIT,
    HookServer,
    PeerProcess,
    Peers,
    SampleCache,
    compare_media,
    free_port,
    probe_packets,
)
from server_support import (
    MovingUpstreams,
    keyframe_index_metadata,
    read_tags,
    spy_on_tcp_nodelay,
    wait_for,
    write_flv,
)

import trio_rtmp
from trio_rtmp import Metadata, cli
from trio_rtmp.media import read_flv
from trio_rtmp.media.flv import TagType, video_info
from trio_rtmp.media.flvfile import FlvReader, FlvTag

pytestmark = pytest.mark.interop

CLI = [sys.executable, "-m", "trio_rtmp"]


# -- helpers ------------------------------------------------------------------------------


def start(
    peers: Peers,
    *args: object,
    name: str = "trio-rtmp",
    env: dict[str, str] | None = None,
    stdin: int = subprocess.DEVNULL,
) -> PeerProcess:
    """``python -m trio_rtmp ARGS...`` as a peer process (stdout and stderr in files);
    ``env`` adds variables, ``stdin`` is a file descriptor to read."""
    return peers.start([*CLI, *map(str, args)], name, env=env, stdin=stdin)


def run(
    *args: object, timeout: float = WAIT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trio_rtmp ARGS...`` to completion (bounded); ``env`` adds variables."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def serve(
    peers: Peers, *args: object, env: dict[str, str] | None = None
) -> tuple[PeerProcess, int]:
    """``trio-rtmp serve`` on a free port of 127.0.0.1; returns it and its port (as printed)."""
    process = start(
        peers, "serve", "--host", "127.0.0.1", "--port", "0", *args, name="serve", env=env
    )
    process.wait_for_log("relay listening on", path=process.stdout_path)
    found = re.search(r"relay listening on rtmp://127\.0\.0\.1:(\d+)\n", process.stdout())
    assert found, process.stdout()
    return process, int(found.group(1))


def play(
    peers: Peers, url: str, output: Path | str, *args: object, name: str = "play"
) -> PeerProcess:
    """``trio-rtmp play -v URL -o OUTPUT ARGS`` once it has started playing."""
    process = start(peers, "play", "-v", url, "-o", output, *args, name=name)
    process.wait_for_log("play started")
    return process


def assert_clean_error(
    result: subprocess.CompletedProcess[str] | PeerProcess, pattern: str
) -> None:
    """stderr is exactly one ``trio-rtmp: error: ...`` line that matches ``pattern``."""
    stderr = result.stderr if isinstance(result, subprocess.CompletedProcess) else result.stderr()
    lines = [line for line in stderr.splitlines() if "INFO" not in line]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("trio-rtmp: error: "), stderr
    assert re.search(pattern, lines[0]), stderr
    assert "Traceback" not in stderr


def stop_with_sigint(process: PeerProcess, expected: int) -> None:
    """Ctrl-C: the process must stop by itself, with ``expected`` and no traceback."""
    process.popen.send_signal(signal.SIGINT)
    process.expect_exit(expected)
    assert "Traceback" not in process.stderr(), process.log()


def publish_in_real_time(source: Path, url: str) -> None:
    """``trio-rtmp publish SOURCE URL``: 4 s of media must take about 4 s."""
    began = time.monotonic()
    publish = run("publish", source, url, timeout=20)
    elapsed = time.monotonic() - began
    assert publish.returncode == 0, publish.stderr
    assert 3.5 < elapsed < 8.0


def media_packets(path: Path, media: str) -> list[object]:
    return [p for p in probe_packets(path) if p.media == media]


@pytest.fixture(scope="module")
def short_sample(sample_media: SampleCache) -> Path:
    """1 s of the common sample (25 frames, one GOP), for loops and follow-ups."""
    return sample_media.get(seconds=1.0)


# -- serve + play -----------------------------------------------------------------------


def test_serve_play_file_stdout_join_record_and_ctrl_c(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    server, port = serve(peers, "--record", records)
    url = f"rtmp://127.0.0.1:{port}/live/cam"
    # Two players waiting for the publisher: they get the whole stream.
    to_file = play(peers, url, tmp_path / "whole.flv", name="play-file")
    to_stdout = play(peers, url, "-", name="play-stdout")
    ffmpeg = peers.ffmpeg_publish(url, sample_flv)
    # One more player joins in the middle and stops after 1.5 s of media.
    time.sleep(1.5)
    joined = play(peers, url, tmp_path / "joined.flv", "--duration", "1.5", name="play-join")
    ffmpeg.expect_exit(0, timeout=15)
    # The publisher left (UnpublishNotify): the players end by themselves, status 0.
    to_file.expect_exit(0)
    to_stdout.expect_exit(0)
    joined.expect_exit(0)

    source = probe_packets(sample_flv)
    for output in (tmp_path / "whole.flv", to_stdout.stdout_path):
        comparison = compare_media(source, output)
        comparison.assert_ok(min_compared=90, max_source_left=0)
        assert all(c.skipped == 0 and c.source_join == 0 for c in comparison.streams.values())
    # A file gets its duration and size written into onMetaData at the end.
    whole = read_flv((tmp_path / "whole.flv").read_bytes())
    assert whole.metadata is not None
    assert whole.metadata["duration"] == pytest.approx(4.0, abs=0.2)
    assert whole.metadata["filesize"] == (tmp_path / "whole.flv").stat().st_size
    assert whole.metadata["width"] == 320  # the publisher's own metadata is kept

    # The late joiner starts at a keyframe and has 1.5 s of media, exactly the source's.
    comparison = compare_media(source, tmp_path / "joined.flv")
    comparison.assert_ok(min_compared=30)
    video = media_packets(tmp_path / "joined.flv", "video")
    assert video[0].keyframe
    span = video[-1].dts - video[0].dts
    assert 1300 <= span < 1500, span

    stop_with_sigint(server, 0)
    (recording,) = (records / "live").glob("cam-*.flv")
    recorded = probe_packets(recording)
    for media in ("video", "audio"):
        assert len([p for p in recorded if p.media == media]) == len(
            [p for p in source if p.media == media]
        )
    compare_media(source, recorded).assert_ok(max_source_left=0)


def test_serve_ctrl_c_finishes_a_live_recording(
    peers: Peers, short_sample: Path, tmp_path: Path
) -> None:
    server, port = serve(peers, "--record", tmp_path)
    url = f"rtmp://127.0.0.1:{port}/live/rec"
    publisher = start(peers, "publish", "-v", short_sample, url, "--loop", name="publish")
    publisher.wait_for_log("publish started")
    time.sleep(1.5)
    stop_with_sigint(server, 0)
    # The publisher learns that the server went away.
    assert publisher.wait() == 1
    assert "trio-rtmp: error:" in publisher.stderr()
    (recording,) = (tmp_path / "live").glob("rec-*.flv")
    flv = read_flv(recording.read_bytes())
    assert not flv.truncated
    assert flv.metadata is not None
    # Stopping the server finished the file: duration and size are filled in.
    assert flv.metadata["filesize"] == recording.stat().st_size
    assert 1.0 <= flv.metadata["duration"] <= 3.0


def test_serve_push_to_nginx(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    nginx = peers.nginx_rtmp()
    _server, port = serve(peers, "--push", f"rtmp://127.0.0.1:{nginx.port}/live")
    output = tmp_path / "from-nginx.flv"
    player = play(peers, nginx.url("live", "pushed"), output)
    peers.ffmpeg_publish(f"rtmp://127.0.0.1:{port}/live/pushed", sample_flv)
    # When the publisher leaves, the push ends and nginx tells its players (StreamEOF,
    # UnpublishNotify): the player ends by itself.
    player.expect_exit(0, timeout=15)
    compare_media(sample_flv, output).assert_ok(min_compared=90, max_source_left=0)


def test_serve_push_over_rtmps(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    """``--push rtmps://...`` (some platforms take only RTMPS): the push goes over TLS
    to nginx-rtmp's TLS front, checking its certificate (the test's CA, trusted through
    SSL_CERT_FILE as a machine's CA store would), and a player there gets every packet."""
    nginx = peers.nginx_rtmp(tls=True)
    trusted = {"SSL_CERT_FILE": str(nginx.ca_path)}
    server, port = serve(
        peers, "-v", "--push", f"rtmps://127.0.0.1:{nginx.tls_port}/live", env=trusted
    )
    output = tmp_path / "from-nginx.flv"
    player = play(peers, nginx.url("live", "pushed"), output)
    peers.ffmpeg_publish(f"rtmp://127.0.0.1:{port}/live/pushed", sample_flv)
    player.expect_exit(0, timeout=15)
    compare_media(sample_flv, output).assert_ok(min_compared=90, max_source_left=0)
    assert f"pushing live/pushed to rtmps://127.0.0.1:{nginx.tls_port}/live" in server.stderr()


def test_serve_max_connections(peers: Peers, tmp_path: Path) -> None:
    _server, port = serve(peers, "--max-connections", "1")
    url = f"rtmp://127.0.0.1:{port}/live/one"
    first = play(peers, url, tmp_path / "first.flv")
    second = run("play", url, "-o", tmp_path / "second.flv")
    assert second.returncode == 1, second.stderr
    assert_clean_error(second, r"refused the connection .*Too many connections")
    assert first.running
    stop_with_sigint(first, 130)


@pytest.mark.parametrize("via", ["option", "environment"])
def test_serve_publish_secret(peers: Peers, short_sample: Path, tmp_path: Path, via: str) -> None:
    """With a publish secret, only ``KEY?secret=SECRET`` publishes; players use the
    bare key, and the secret shows up in no name, recording or log line."""
    secret = "s3cret-" + via
    option = ["--publish-secret", secret] if via == "option" else []
    env = {"TRIO_RTMP_PUBLISH_SECRET": secret} if via == "environment" else None
    recordings = tmp_path / "recordings"
    server, port = serve(peers, "-v", "--record", recordings, *option, env=env)
    url = f"rtmp://127.0.0.1:{port}/live/cam"
    for refused_url in (url, url + "?secret=wrong"):
        refused = run("publish", short_sample, refused_url)
        assert refused.returncode == 1, refused.stderr
        assert_clean_error(refused, r"refused to publish .*NetStream\.Publish\.BadName")
    output = tmp_path / "played.flv"
    player = play(peers, url, output)
    publish = run("publish", short_sample, f"{url}?secret={secret}", timeout=15)
    assert publish.returncode == 0, publish.stderr
    player.expect_exit(0)
    compare_media(short_sample, output).assert_ok(min_compared=20, max_source_left=0)
    stop_with_sigint(server, 0)
    [recording] = (recordings / "live").iterdir()
    assert recording.name.startswith("cam-")
    assert "refused to let 127.0.0.1:" in server.stderr()
    assert secret not in server.stdout() + server.stderr()


def test_serve_play_secret(peers: Peers, short_sample: Path, tmp_path: Path) -> None:
    """With a play secret, only ``KEY?secret=SECRET`` plays; publishing stays open."""
    secret = "v1ewer"
    server, port = serve(peers, "-v", env={"TRIO_RTMP_PLAY_SECRET": secret})
    url = f"rtmp://127.0.0.1:{port}/live/cam"
    refused = run("play", url, "-o", tmp_path / "refused.flv")
    assert refused.returncode == 1, refused.stderr
    assert_clean_error(refused, r"refused to play .*NetStream\.Play\.Failed")
    output = tmp_path / "played.flv"
    player = play(peers, f"{url}?secret={secret}", output)
    publish = run("publish", short_sample, url, timeout=15)
    assert publish.returncode == 0, publish.stderr
    player.expect_exit(0)
    compare_media(short_sample, output).assert_ok(min_compared=20, max_source_left=0)
    assert secret not in server.stdout() + server.stderr()


@pytest.mark.parametrize("action", ["publish", "play"])
def test_serve_refuses_an_empty_secret(action: str) -> None:
    result = run("serve", "--port", "0", f"--{action}-secret", "")
    assert result.returncode == 2
    assert_clean_error(result, f"the {action} secret must not be empty")


async def serve_in_process(
    nursery: trio.Nursery, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[str, cli._Stop]:
    """``trio-rtmp serve`` with ``options`` as a task of ``nursery`` (in this process,
    so that its sockets and timing can be watched); the URL of a stream on it, and
    what stops it (``stop.graceful()``)."""
    args = cli.build_parser().parse_args(["serve", "--host", "127.0.0.1", "--port", "0", *options])
    stop = cli._Stop()
    nursery.start_soon(cli._serve, args, stop)
    with trio.fail_after(WAIT):
        while stop.graceful is None:
            await trio.sleep(0.01)
    printed = capsys.readouterr().out
    found = re.search(r"relay listening on rtmp://127\.0\.0\.1:(\d+)\n", printed)
    assert found, printed
    return f"rtmp://127.0.0.1:{found.group(1)}/live/cam", stop


@pytest.mark.parametrize("nodelay", [False, True])
async def test_serve_tcp_nodelay(
    nodelay: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """By default the relay turns Nagle's algorithm back on for each connection (Trio
    turns it off); ``--tcp-nodelay`` leaves it off.  Run in this process, so that the
    socket options the server sets can be seen."""
    calls = spy_on_tcp_nodelay(monkeypatch)
    options = ["--tcp-nodelay"] if nodelay else []
    async with trio.open_nursery() as nursery:
        url, stop = await serve_in_process(nursery, capsys, *options)
        with trio.fail_after(WAIT):
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                async with trio_rtmp.open_client(url) as player:
                    await player.play()
                    await publisher.send_metadata({"n": 1.0})
                    assert await player.frames.receive() == Metadata("onMetaData", {"n": 1.0})
        stop.graceful()
    # Trio turns TCP_NODELAY on for every socket it makes, our clients' included; only
    # the server turns it off (once per session), and only without --tcp-nodelay.
    turned_off = {stream for stream, value in calls if not value}
    assert len(turned_off) == (0 if nodelay else 2), calls


async def test_serve_max_message_rate(capsys: pytest.CaptureFixture[str]) -> None:
    """``--max-message-rate 100``: a publisher that sends 400 messages at once is read
    at 100 a second once its burst (200) is spent, so a player gets what follows them
    about 2 s later; nothing is lost and the connection stays."""
    async with trio.open_nursery() as nursery:
        url, stop = await serve_in_process(nursery, capsys, "--max-message-rate", "100")
        with trio.fail_after(WAIT):
            async with trio_rtmp.open_client(url) as publisher:
                await publisher.publish()
                async with trio_rtmp.open_client(url, demux=False) as player:
                    await player.play()
                    start = trio.current_time()
                    for n in range(400):
                        await publisher.send_raw(8, n, b"\xaf\x01" + bytes([n % 256]))
                    await publisher.send_metadata({"n": 1.0})
                    tags = []
                    while not tags or tags[-1].tag_type != 18:
                        tags.append(await player.frames.receive())
                    elapsed = trio.current_time() - start
        stop.graceful()
    assert [t.data[2] for t in tags if t.tag_type == 8] == [n % 256 for n in range(400)]
    assert 1.7 <= elapsed < 5, elapsed


def test_serve_refuses_a_second_publisher(peers: Peers, short_sample: Path) -> None:
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/taken"
    first = start(peers, "publish", "-v", short_sample, url, "--loop", name="publish")
    first.wait_for_log("publish started")
    second = run("publish", short_sample, url)
    assert second.returncode == 1, second.stderr
    assert_clean_error(second, r"refused to publish .*NetStream\.Publish\.BadName")
    # Ctrl-C stops a publisher politely, with 130.
    stop_with_sigint(first, 130)


def test_serve_rtmps_and_rtmp_share_the_relay(
    peers: Peers, tls_certificate: Any, short_sample: Path, tmp_path: Path
) -> None:
    server, port = serve(
        peers,
        "-v",
        "--tls-port",
        "0",
        "--tls-cert",
        tls_certificate.cert_path,
        "--tls-key",
        tls_certificate.key_path,
    )
    found = re.search(r"relay listening on rtmps://127\.0\.0\.1:(\d+)\n", server.stdout())
    assert found, server.stdout()
    tls_url = f"rtmps://127.0.0.1:{found.group(1)}/live/both"
    # A player on each listener; our client checks the certificate against the CA.
    trusted = {"SSL_CERT_FILE": str(tls_certificate.ca_path)}
    over_tls = peers.start(
        [*CLI, "play", "-v", tls_url, "-o", str(tmp_path / "tls.flv")], "play-tls", env=trusted
    )
    over_tls.wait_for_log("play started")
    plain = play(peers, f"rtmp://127.0.0.1:{port}/live/both", tmp_path / "plain.flv")
    # FFmpeg publishes over TLS, verifying the certificate too.
    verify = ["-tls_verify", "1", "-ca_file", str(tls_certificate.ca_path)]
    peers.ffmpeg_publish(tls_url, short_sample, extra=verify).expect_exit(0, timeout=15)
    over_tls.expect_exit(0)
    plain.expect_exit(0)
    for output in ("tls.flv", "plain.flv"):
        compare_media(short_sample, tmp_path / output).assert_ok(min_compared=20, max_source_left=0)
    stop_with_sigint(server, 0)
    # -v logs who published and played, and when they left.
    log = server.stderr()
    for line in ("published by 127.0.0.1:", "played by 127.0.0.1:", "publisher 127.0.0.1:"):
        assert f"live/both: {line}" in log, log


def test_serve_rtmps_to_librtmp(
    peers: Peers, tls_certificate: Any, short_sample: Path, tmp_path: Path
) -> None:
    """librtmp (rtmpdump, and encoders built on the library) over ``rtmps://``: it
    publishes and plays.  Its TLS reading fails on the session tickets a TLS 1.3 server
    sends after the handshake, so the relay sends none."""
    server, _port = serve(
        peers, "--tls-port", "0", "--tls-cert", tls_certificate.cert_path,
        "--tls-key", tls_certificate.key_path,
    )  # fmt: skip
    found = re.search(r"relay listening on rtmps://127\.0\.0\.1:(\d+)\n", server.stdout())
    assert found, server.stdout()
    url = f"rtmps://127.0.0.1:{found.group(1)}/live/librtmp"
    output = tmp_path / "rtmpdump.flv"
    dump = peers.rtmpdump_play(url, output, idle_timeout=3)
    dump.wait_for_log("Starting Live Stream")
    peers.librtmp_publish(url, short_sample).expect_exit(0, timeout=15)
    dump.run_for(0.5)
    compare_media(short_sample, output).assert_ok(min_compared=20, max_source_left=0)


def test_serve_tls_options(tls_certificate: Any, tmp_path: Path) -> None:
    result = run("serve", "--tls-key", tls_certificate.key_path)
    assert result.returncode == 2
    assert_clean_error(result, r"--tls-key needs --tls-cert")
    result = run("serve", "--tls-port", "0")
    assert result.returncode == 2
    assert_clean_error(result, r"--tls-port needs --tls-cert")
    missing = tmp_path / "missing.pem"
    result = run("serve", "--tls-cert", missing)
    assert result.returncode == 2
    assert_clean_error(result, rf"cannot use {re.escape(str(missing))} for TLS: No such file")
    # A key that is not the certificate's.
    result = run(
        "serve", "--tls-cert", tls_certificate.cert_path, "--tls-key", tls_certificate.ca_path
    )
    assert result.returncode == 2
    assert_clean_error(result, r"cannot use .* for TLS: need a PEM certificate and its private key")


def test_serve_bad_options() -> None:
    result = run("serve", "--push", "http://example.com/live")
    assert result.returncode == 2
    assert_clean_error(result, r"not RTMP")
    result = run("serve", "--max-connections", "0")
    assert result.returncode == 2
    assert "trio-rtmp serve: error: argument --max-connections" in result.stderr


def test_serve_port_in_use(peers: Peers) -> None:
    _server, port = serve(peers)
    result = run("serve", "--host", "127.0.0.1", "--port", port)
    assert result.returncode == 1
    assert_clean_error(result, rf"cannot listen on 127\.0\.0\.1:{port}")


# -- publish ----------------------------------------------------------------------------


def test_publish_no_realtime_to_serve_and_ffmpeg_plays_it(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/file"
    watcher = play(peers, url, tmp_path / "watcher.flv")
    output = tmp_path / "ffmpeg.flv"
    ffmpeg = peers.ffmpeg_play(url, output)
    time.sleep(0.5)  # FFmpeg's play reaches the relay
    began = time.monotonic()
    publish = run("publish", sample_flv, url, "--no-realtime")
    elapsed = time.monotonic() - began
    assert publish.returncode == 0, publish.stderr
    assert publish.stderr == ""
    # 4 s of media, sent as fast as the connection takes it.
    assert elapsed < 3.0
    watcher.expect_exit(0)
    ffmpeg.expect_exit(0, timeout=15)
    compare_media(sample_flv, output).assert_ok(min_compared=90, max_source_left=0)
    compare_media(sample_flv, tmp_path / "watcher.flv").assert_ok(
        min_compared=90, max_source_left=0
    )


def test_publish_realtime_to_nginx(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    nginx = peers.nginx_rtmp(play_restart=True)
    url = nginx.url("live", "paced")
    output = tmp_path / "ffmpeg.flv"
    ffmpeg = peers.ffmpeg_play(url, output)
    nginx.wait_for_play("paced")
    publish_in_real_time(sample_flv, url)
    ffmpeg.expect_exit(0, timeout=15)
    compare_media(sample_flv, output).assert_ok(min_compared=90, max_source_left=0)


#: 2^24 ms, 4 h 39 min: from here on, RTMP chunk headers carry extended timestamps.
EXTENDED_FROM_MS = 0x1000000


@pytest.mark.parametrize("server", ["serve", "nginx"])
def test_publish_realtime_across_extended_timestamps(
    peers: Peers, sample_media: SampleCache, tmp_path: Path, server: str
) -> None:
    # A stream 4 h 39 min in, as FFmpeg writes it with -output_ts_offset (or a recording
    # with copied timestamps): sequence headers at 0, frames from 16,775 s on, passing
    # 2^24 ms halfway.  Publishing paces from the first frame, not from the headers, and
    # the frames reach every player through chunks with extended timestamps.
    source = sample_media.get(extra=["-output_ts_offset", "16775"])
    source_dts = [p.dts for p in probe_packets(source) if p.dts is not None]
    assert min(source_dts) < EXTENDED_FROM_MS < max(source_dts), (min(source_dts), max(source_dts))
    if server == "nginx":
        # play_restart: nginx says Play.Start when the publisher starts and Play.Stop
        # when it leaves, so that both players end by themselves.
        nginx = peers.nginx_rtmp(play_restart=True)
        url = nginx.url("live", "late")
        ours = start(peers, "play", url, "-o", tmp_path / "ours.flv", name="play")
        ffmpeg = peers.ffmpeg_play(url, tmp_path / "ffmpeg.flv")
        deadline = time.monotonic() + WAIT
        while nginx.log().count("play: name='late'") < 2:
            assert time.monotonic() < deadline, nginx.log()
            time.sleep(0.05)
    else:
        _server, port = serve(peers)
        url = f"rtmp://127.0.0.1:{port}/live/late"
        ours = play(peers, url, tmp_path / "ours.flv")
        ffmpeg = peers.ffmpeg_play(url, tmp_path / "ffmpeg.flv")
        time.sleep(0.5)  # FFmpeg's play reaches the relay
    # (Not the 16,775 s from the headers to the first frame.)
    publish_in_real_time(source, url)
    ours.expect_exit(0, timeout=15)
    ffmpeg.expect_exit(0, timeout=15)
    for output in ("ours.flv", "ffmpeg.flv"):
        compare_media(source, tmp_path / output).assert_ok(min_compared=90, max_source_left=0)
    # Our player writes the timestamps as they came: the source's own.
    ours_dts = [p.dts for p in probe_packets(tmp_path / "ours.flv") if p.dts is not None]
    assert max(ours_dts) == max(source_dts)


def test_publish_play_and_probe_across_the_32_bit_wrap(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """RTMP and FLV timestamps wrap to 0 after 2**32 ms (49.7 days; a recording of such a
    stream, or an encoder that starts high, gets there at any time).  Here the frames
    start 3 s before the wrap (the headers at 0).  ``publish`` paces across it instead
    of sending the rest at once; ``play`` writes every frame at its time (it wrote all
    those past the wrap at the first frame's time), with the file's duration and
    ``--duration`` counted across it; ``probe`` measures the frame rate across it."""
    import json

    top = (1 << 32) - 3000

    def shifted(tag: FlvTag) -> FlvTag:
        if tag.tag_type == TagType.SCRIPT or cli._is_header(tag):
            return tag
        return tag._replace(timestamp=(tag.timestamp + top) & 0xFFFFFFFF)

    source = write_flv(tmp_path / "wrap.flv", [shifted(t) for t in read_tags(sample_flv)])
    stamps = [t.timestamp for t in read_tags(source) if t.tag_type == TagType.VIDEO]
    assert stamps[0] == 0 and stamps[1] == top and min(stamps[2:]) < 1000, stamps[:3]
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/wrap"
    whole = play(peers, url, tmp_path / "ours.flv")
    part = play(peers, url, tmp_path / "part.flv", "--duration", "2", name="play-part")
    ffmpeg = peers.ffmpeg_play(url, tmp_path / "ffmpeg.flv")
    probe = start(peers, "probe", url, "--json", "--duration", "3.5", name="probe")
    time.sleep(0.5)  # FFmpeg's play and the probe reach the relay
    publish_in_real_time(source, url)
    whole.expect_exit(0, timeout=15)
    part.expect_exit(0, timeout=15)
    ffmpeg.expect_exit(0, timeout=15)
    probe.expect_exit(0, timeout=15)

    for output in ("ours.flv", "ffmpeg.flv"):
        compare_media(source, tmp_path / output).assert_ok(min_compared=90, max_source_left=0)
    ours = read_flv((tmp_path / "ours.flv").read_bytes())
    written = [t.timestamp for t in ours.tags if t.tag_type == TagType.VIDEO]
    assert written[1:] == stamps[1:] and written[0] == top  # the header at the first frame
    assert ours.metadata is not None
    assert ours.metadata["duration"] == pytest.approx(4.0, abs=0.1)
    part_tags = read_flv((tmp_path / "part.flv").read_bytes()).tags
    part_times = [t.timestamp for t in part_tags if t.tag_type != TagType.SCRIPT]
    assert max(t - top if t >= top else t + 3000 for t in part_times) < 2000
    assert len(part_times) > 60
    video = json.loads(probe.stdout())["streams"][0]
    assert video["frame_rate"] == pytest.approx(25.0, abs=0.5)


def test_publish_leaves_out_a_keyframe_index(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    # A file whose onMetaData holds a keyframe index (FFmpeg's add_keyframe_index,
    # yamdi), here past the 64 KiB of AMF a server decodes: the index (file positions)
    # is left out, as FFmpeg does; the rest of the metadata and every frame arrive.
    # 70,000 keyframes: more entries than one collection may hold in what a peer sends
    # (65,536), as in a long file; a local file is read with room for it.
    big = keyframe_index_metadata(70_000)
    source = write_flv(
        tmp_path / "indexed.flv", [big, *(t for t in read_tags(sample_flv) if t.tag_type != 18)]
    )
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/indexed"
    player = play(peers, url, tmp_path / "out.flv")
    publish = run("publish", source, url, "--no-realtime", "-v")
    assert publish.returncode == 0, publish.stderr
    assert "leaving the file's keyframe index out of onMetaData" in publish.stderr
    player.expect_exit(0)
    compare_media(sample_flv, tmp_path / "out.flv").assert_ok(min_compared=90, max_source_left=0)
    scripts = [t.script_values() for t in read_tags(tmp_path / "out.flv") if t.tag_type == 18]
    [(_, got)] = [v for v in scripts if v[0] == "onMetaData"]
    assert got["width"] == 320.0
    assert "keyframes" not in got


def test_publish_to_a_hung_server_ends(peers: Peers, sample_flv: Path) -> None:
    """A server that stops taking bytes (``trio-rtmp serve`` frozen with SIGSTOP) ends
    ``publish`` with status 1 once nothing has gone out for 10 s, instead of never."""
    server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/hung"
    publisher = start(peers, "publish", "-v", "--loop", "--no-realtime", sample_flv, url)
    publisher.wait_for_log("publish started")
    os.kill(server.pid, signal.SIGSTOP)
    try:
        frozen_at = time.monotonic()
        assert publisher.wait(timeout=WAIT + 20) == 1, publisher.log()
        assert time.monotonic() - frozen_at >= 10
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert_clean_error(publisher, r"no write progress to 127\.0\.0\.1:\d+ for 10\.0 s")


def test_publish_loop(peers: Peers, short_sample: Path, tmp_path: Path) -> None:
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/loop"
    output = tmp_path / "loop.flv"
    player = play(peers, url, output, "--duration", "2.5")
    publisher = start(peers, "publish", short_sample, url, "--loop", name="publish")
    player.expect_exit(0, timeout=15)
    stop_with_sigint(publisher, 130)

    source = media_packets(short_sample, "video")
    got = media_packets(output, "video")
    # More than two passes of a 1 s file, each frame the source's, in order, with
    # timestamps that keep going up across the passes.
    assert len(got) > 2 * len(source), (len(got), len(source))
    assert [p.data_hash for p in got] == [
        source[i % len(source)].data_hash for i in range(len(got))
    ]
    dts = [p.dts for p in got]
    assert all(b > a for a, b in itertools.pairwise(dts)), dts
    assert max(b - a for a, b in itertools.pairwise(dts)) <= 120
    audio = [p.dts for p in media_packets(output, "audio")]
    assert all(b >= a for a, b in itertools.pairwise(audio)), audio


@pytest.mark.parametrize("usable", [True, False])
async def test_publish_follows_a_reconnect_request(sample_flv: Path, usable: bool) -> None:
    """A server asks the publisher to reconnect elsewhere (Enhanced RTMP
    ReconnectRequest): ``publish`` moves before the next keyframe, the new server gets
    the metadata and sequence headers first, and every frame reaches one server or the
    other, once.  A request it cannot follow is ignored."""
    upstreams = MovingUpstreams(usable=usable, at=300)
    tags = read_flv(sample_flv.read_bytes()).tags
    frames = [t.timestamp for t in tags if t.tag_type == 9 and not video_info(t.data)[1]]
    async with trio.open_nursery() as nursery:
        port = await upstreams.start(nursery)
        with trio.fail_after(WAIT):
            publish = await trio.run_process(
                [*CLI, "publish", str(sample_flv), f"rtmp://127.0.0.1:{port}/up/k"],
                stdin=b"",
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            assert publish.returncode == 0, publish.stderr
            # The servers may still be reading what the publisher sent before it left.
            while not upstreams.got_frame(frames[-1]):
                await trio.sleep(0.01)
        upstreams.stop()
    if usable:
        assert publish.stderr == b""
    upstreams.check(frames, "up", "k")


def piped_into_publish(
    peers: Peers, producer: list[str], url: str
) -> tuple[PeerProcess, PeerProcess]:
    """``PRODUCER | trio-rtmp publish -v - URL --no-realtime``: both processes."""
    read_end, write_end = os.pipe()
    try:
        producing = peers.start(producer, "producer", stdout=write_end)
        publisher = start(peers, "publish", "-v", "-", url, "--no-realtime", stdin=read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    return producing, publisher


def test_publish_from_an_encoder_on_stdin(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    """``ffmpeg -re ... -f flv - | trio-rtmp publish - URL``: the FLV of a live encoder
    on a pipe, published as it comes; a player gets every packet, and the stream ends
    when the encoder does."""
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/piped"
    output = tmp_path / "piped.flv"
    player = play(peers, url, output)
    encoder, publisher = piped_into_publish(
        peers,
        ["ffmpeg", "-hide_banner", "-nostdin", "-re", "-i", str(sample_flv),
         "-c", "copy", "-map", "0", "-f", "flv", "-"],
        url,
    )  # fmt: skip
    encoder.expect_exit(0, timeout=15)
    publisher.expect_exit(0)
    assert "publishing stdin to rtmp://127.0.0.1:" in publisher.stderr()
    player.expect_exit(0)
    compare_media(sample_flv, output).assert_ok(min_compared=90, max_source_left=0)


def test_play_piped_into_publish_forwards_a_stream(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """``trio-rtmp play URL -o - | trio-rtmp publish - URL2 --no-realtime``: a stream
    forwarded under another key, live, packet for packet; it ends when the source does."""
    _server, port = serve(peers)
    source_url = f"rtmp://127.0.0.1:{port}/live/source"
    forwarded_url = f"rtmp://127.0.0.1:{port}/live/forwarded"
    output = tmp_path / "forwarded.flv"
    player = play(peers, forwarded_url, output)
    source_player, forwarder = piped_into_publish(
        peers, [*CLI, "play", "-v", source_url, "-o", "-"], forwarded_url
    )
    source_player.wait_for_log("play started")
    peers.ffmpeg_publish(source_url, sample_flv).expect_exit(0, timeout=15)
    source_player.expect_exit(0)
    forwarder.expect_exit(0)
    player.expect_exit(0)
    compare_media(sample_flv, output).assert_ok(min_compared=90, max_source_left=0)


def test_publish_from_stdin_sends_tags_as_they_come(
    peers: Peers, sample_flv: Path, tmp_path: Path
) -> None:
    """Tags on standard input go out when they arrive, not once a buffer has filled: a
    pipe that holds the start of a stream and stays open gets that start played.  Ctrl-C
    stops the publisher while it waits on the pipe."""
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/trickle"
    output = tmp_path / "trickle.flv"
    player = play(peers, url, output)
    source = sample_flv.read_bytes()
    # The file's first 20 KB: its header, metadata, sequence headers and first frames,
    # ending inside a tag.  Far less than a read's 64 KiB.
    head = source[:20_000]
    reader = FlvReader()
    sent = [e for e in reader.receive_data(head) if isinstance(e, FlvTag)]
    media = [t for t in sent if t.tag_type in (TagType.AUDIO, TagType.VIDEO)]
    assert len(media) >= 10
    read_end, write_end = os.pipe()
    try:
        publisher = start(peers, "publish", "-v", "-", url, "--no-realtime", stdin=read_end)
        # The header in two pieces: a pipe gives what it has, not what was asked for.
        os.write(write_end, head[:5])
        wait_until_reading_a_pipe(publisher)
        os.write(write_end, head[5:])
        deadline = time.monotonic() + WAIT
        while len(media_tags(output)) < len(media):
            assert time.monotonic() < deadline, (len(media_tags(output)), len(media))
            time.sleep(0.05)
        assert [t.data for t in media_tags(output)] == [t.data for t in media]
        assert publisher.running
        stop_with_sigint(publisher, 130)
    finally:
        os.close(read_end)
        os.close(write_end)
    player.expect_exit(0)  # the publisher left: the stream ended


def wait_until_reading_a_pipe(process: PeerProcess) -> None:
    """Wait (bounded) until a thread of ``process`` waits for a pipe to have data (Linux's
    /proc/PID/task/TID/wchan); elsewhere, give it 2 s to get there."""
    tasks = Path(f"/proc/{process.popen.pid}/task")
    if not tasks.is_dir():
        time.sleep(2)
        return
    deadline = time.monotonic() + WAIT
    while True:
        waits = []
        for task in tasks.iterdir():
            with contextlib.suppress(OSError):
                waits.append((task / "wchan").read_text())
        if any("pipe" in wait for wait in waits):
            return
        assert process.running, process.log()
        assert time.monotonic() < deadline, waits
        time.sleep(0.02)


def media_tags(path: Path) -> list[FlvTag]:
    """The audio and video tags in the FLV file at ``path`` so far (maybe being written)."""
    reader = FlvReader()
    events = reader.receive_data(path.read_bytes()) if path.exists() else []
    kinds = (TagType.AUDIO, TagType.VIDEO)
    return [e for e in events if isinstance(e, FlvTag) and e.tag_type in kinds]


def test_ctrl_c_while_starting_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the command is still loading its modules: status 130, no traceback
    (as once it runs)."""
    import trio_rtmp.__main__

    class Interrupting:
        def find_spec(self, name: str, *args: object) -> None:
            if name == "trio_rtmp.cli":
                raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "trio_rtmp.cli")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    assert trio_rtmp.__main__.main(["--version"]) == 130


def test_the_command_loads_its_modules_where_ctrl_c_is_handled() -> None:
    """What runs before ``main()`` (the package and its ``__main__``, as the
    ``trio-rtmp`` script and ``python -m`` import them) loads nothing more of the
    package, nor Trio: the whole start-up is inside ``main()``'s Ctrl-C handling.  (Ctrl-C
    in the package's import printed a traceback: 8 of 305 clients killed at random in a
    chaos run.)"""
    code = (
        "import sys, trio_rtmp.__main__\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('trio_rtmp', 'trio')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['trio_rtmp', 'trio_rtmp.__main__']"
    # Names and subpackages still come on first use, after a bare ``import trio_rtmp``.
    code = (
        "import trio_rtmp\n"
        "assert trio_rtmp.media.FlvWriter and trio_rtmp.core.amf0.encode\n"
        "assert trio_rtmp.relay.Relay and trio_rtmp.RTMPError and trio_rtmp.open_client\n"
        "assert issubclass(trio_rtmp.ConnectionClosed, trio_rtmp.RTMPError)\n"
        "assert 'VideoSample' in dir(trio_rtmp)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT
    )
    assert result.returncode == 0, result.stderr


def test_publish_bad_input(tmp_path: Path) -> None:
    missing = run("publish", tmp_path / "missing.flv", "rtmp://127.0.0.1:1/live/x")
    assert missing.returncode == 2
    assert_clean_error(missing, r"cannot read .*missing\.flv: No such file")
    text = tmp_path / "text.flv"
    text.write_text("not a video\n")
    not_flv = run("publish", text, "rtmp://127.0.0.1:1/live/x")
    assert not_flv.returncode == 2
    assert_clean_error(not_flv, r"text\.flv is not an FLV file")
    empty_stdin = run("publish", "-", "rtmp://127.0.0.1:1/live/x")
    assert empty_stdin.returncode == 2
    assert_clean_error(empty_stdin, r"stdin is not an FLV file")
    loop_stdin = run("publish", "-", "rtmp://127.0.0.1:1/live/x", "--loop")
    assert loop_stdin.returncode == 2
    assert_clean_error(loop_stdin, r"--loop needs a file")
    # (The shell closes stdin for it: preexec_fn is not safe with the threads of tests.)
    closed_stdin = subprocess.run(
        ["/bin/sh", "-c", 'exec "$@" <&-', "sh", *CLI, "publish", "-", "rtmp://127.0.0.1:1/live/x"],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert closed_stdin.returncode == 2
    assert_clean_error(closed_stdin, r"cannot read stdin: it is closed")


# -- play ------------------------------------------------------------------------------


def test_play_follow_continues_across_publishers(
    peers: Peers, short_sample: Path, tmp_path: Path
) -> None:
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/follow"
    output = tmp_path / "follow.flv"
    player = play(peers, url, output, "--follow")
    for _ in range(2):
        publish = run("publish", short_sample, url, timeout=15)
        assert publish.returncode == 0, publish.stderr
    time.sleep(0.3)
    assert player.running  # the publishers left, but it follows
    stop_with_sigint(player, 130)
    source = media_packets(short_sample, "video")
    got = media_packets(output, "video")
    assert [p.data_hash for p in got] == [p.data_hash for p in source] * 2
    dts = [p.dts for p in got]
    assert all(b > a for a, b in itertools.pairwise(dts)), dts
    # Ctrl-C still finished the file.
    assert read_flv(output.read_bytes()).metadata["filesize"] == output.stat().st_size


def test_play_follow_reconnects_when_the_server_restarts(
    peers: Peers, short_sample: Path, sample_media: SampleCache, tmp_path: Path
) -> None:
    """``play --follow`` outlives its server: it reconnects (1 s, 2 s... apart) and goes
    on writing the same file, which gets both publishers' media in order."""
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/restart"
    output = tmp_path / "restart.flv"
    server = start(peers, "serve", "--host", "127.0.0.1", "--port", port, name="serve-1")
    server.wait_for_log("relay listening on", path=server.stdout_path)
    player = play(peers, url, output, "--follow")
    publish = run("publish", short_sample, url, timeout=15)
    assert publish.returncode == 0, publish.stderr
    assert server.stop() is not None
    player.wait_for_log("lost the connection")
    player.wait_for_log("could not reconnect")  # nothing listens for a while
    server = start(peers, "serve", "--host", "127.0.0.1", "--port", port, name="serve-2")
    server.wait_for_log("relay listening on", path=server.stdout_path)
    player.wait_for_log("reconnected; playing again")
    second = sample_media.get(seconds=1.0, size="160x120")
    publish = run("publish", second, url, timeout=15)
    assert publish.returncode == 0, publish.stderr
    time.sleep(0.3)
    assert player.running
    stop_with_sigint(player, 130)
    got = media_packets(output, "video")
    expected = media_packets(short_sample, "video") + media_packets(second, "video")
    assert [p.data_hash for p in got] == [p.data_hash for p in expected]
    dts = [p.dts for p in got]
    assert all(b > a for a, b in itertools.pairwise(dts)), dts


async def test_play_follow_with_receive_timeout_gets_past_a_hung_server(
    peers: Peers, short_sample: Path, tmp_path: Path
) -> None:
    """``play --follow --receive-timeout 2``: the server hangs (SIGSTOP) while a
    publisher streams to it.  The player counts 2 s with nothing from it as a lost
    connection, and once the server is back, it plays on into the same file."""
    server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/hung"
    output = tmp_path / "hung.flv"
    player = start(
        peers, "play", "-v", url, "-o", output, "--follow", "--receive-timeout", "2", name="play"
    )
    await player.wait_for_log_async("play started")
    publisher = start(peers, "publish", "--loop", short_sample, url, name="publish")
    try:
        await wait_for(lambda: len(media_tags(output)) > 20, what="media in the file")
        os.kill(server.pid, signal.SIGSTOP)
        try:
            await player.wait_for_log_async("lost the connection (nothing from 127.0.0.1")
        finally:
            os.kill(server.pid, signal.SIGCONT)
        await player.wait_for_log_async("reconnected; playing again")
        before = len(media_tags(output))
        await wait_for(lambda: len(media_tags(output)) > before + 20, what="media after it")
    finally:
        await publisher.stop_async()
    player.popen.send_signal(signal.SIGINT)
    assert await player.wait_async() == 130, player.log()
    dts = [p.dts for p in media_packets(output, "video")]
    assert all(b > a for a, b in itertools.pairwise(dts)), dts


async def test_play_follow_reconnects_without_repeating_a_frame(
    peers: Peers, sample_media: SampleCache, tmp_path: Path
) -> None:
    """The player's connection is cut while the publisher goes on: ``play --follow``
    reconnects, the relay starts it again at the last keyframe, and what the file had
    already is skipped.  With a GOP longer than the gap, the file is the source: every
    packet once, in order."""
    from trio_rtmp.relay import Relay

    source = sample_media.get(seconds=5, gop_seconds=5)
    output = tmp_path / "cut.flv"
    async with trio.open_nursery() as nursery:
        relay = Relay()
        server = await nursery.start(functools.partial(relay.serve, 0, host="127.0.0.1"))
        url = f"rtmp://127.0.0.1:{server.port}/live/cut"
        player = start(peers, "play", "-v", url, "-o", output, "--follow", name="play")
        await player.wait_for_log_async("play started")
        publisher = peers.ffmpeg_publish(url, source)
        stream = None
        with trio.fail_after(WAIT):
            while stream is None or stream.messages < 30:
                await trio.sleep(0.05)
                stream = relay.streams.get(("live", "cut"))
        [(session, _stream_id)] = stream.players
        session.close()
        await player.wait_for_log_async("lost the connection")
        await player.wait_for_log_async("reconnected; playing again")
        assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
        await trio.sleep(0.5)
        assert player.running
        player.popen.send_signal(signal.SIGINT)
        assert await player.wait_async() == 130, player.log()
        server.stop()
    comparison = compare_media(source, output)
    comparison.assert_ok(max_source_left=0)
    for kind in ("video", "audio"):
        packets = comparison.streams[kind]
        assert packets.source_join == packets.output_join == 0, comparison.summary()
        assert packets.output_count == packets.source_count, comparison.summary()
    assert "skipped" in player.stderr()


def test_play_into_a_pipe(peers: Peers, short_sample: Path, tmp_path: Path) -> None:
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/pipe"
    output = tmp_path / "piped.flv"
    ffmpeg = [
        *("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
        *("-f", "flv", "-i", "pipe:0", "-c", "copy", "-map", "0", "-f", "flv", output),
    ]
    # play -o - | ffmpeg -i pipe:0 ...
    player = subprocess.Popen(
        [*CLI, "play", url, "-o", "-"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        reader = subprocess.Popen(ffmpeg, stdin=player.stdout, stderr=subprocess.PIPE)
        try:
            assert player.stdout is not None
            player.stdout.close()  # the reader has it now
            time.sleep(1.0)  # the player waits for the publisher
            publish = run("publish", short_sample, url, timeout=15)
            assert publish.returncode == 0, publish.stderr
            _, errors = player.communicate(timeout=WAIT)
            assert player.returncode == 0, errors
            _, errors = reader.communicate(timeout=WAIT)
            assert reader.returncode == 0, errors
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait(timeout=WAIT)
    finally:
        if player.poll() is None:
            player.kill()
            player.wait(timeout=WAIT)
    compare_media(short_sample, output).assert_ok(min_compared=20, max_source_left=0)


def test_play_into_a_pipe_whose_reader_leaves(peers: Peers, short_sample: Path) -> None:
    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/endless"
    publisher = start(peers, "publish", "-v", short_sample, url, "--loop", name="publish")
    publisher.wait_for_log("publish started")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails (EPIPE)
    try:
        quitter = subprocess.run(
            [*CLI, "play", url, "-o", "-"],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=WAIT,
        )
    finally:
        os.close(write_end)
    # The stream goes on, but with no one to read it play ends, quietly.
    assert quitter.returncode == 0, quitter.stderr
    assert quitter.stderr == b""
    assert publisher.running


def test_play_stream_not_found(peers: Peers, tmp_path: Path) -> None:
    nginx = peers.nginx_rtmp(idle_streams=False)
    result = run("play", nginx.url("live", "nobody"), "-o", tmp_path / "x.flv")
    assert result.returncode == 1
    assert_clean_error(result, r"stream not found .*NetStream\.Play\.StreamNotFound")
    assert not (tmp_path / "x.flv").exists()


def test_play_refused_by_an_auth_hook(
    peers: Peers, http_hook_server: HookServer, tmp_path: Path
) -> None:
    http_hook_server.refused.add("secret")
    nginx = peers.nginx_rtmp(on_play=http_hook_server.url("/on_play"))
    result = run("play", nginx.url("live", "secret"), "-o", tmp_path / "x.flv")
    # nginx-rtmp answers a refused play by closing the connection.
    assert result.returncode == 1
    assert_clean_error(result, r"closed")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")
def test_play_to_a_terminal_is_refused(tmp_path: Path) -> None:
    controller, terminal = os.openpty()
    try:
        result = subprocess.run(
            [*CLI, "play", "rtmp://127.0.0.1:1/live/x"],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=WAIT,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert_clean_error(result, r"stdout is a terminal")


# -- probe -----------------------------------------------------------------------------


def test_probe(peers: Peers, sample_flv: Path) -> None:
    import json

    _server, port = serve(peers)
    url = f"rtmp://127.0.0.1:{port}/live/probe"
    peers.ffmpeg_publish(url, sample_flv, loop=True)
    as_json = start(peers, "probe", url, "--json", name="probe-json")
    as_text = start(peers, "probe", url, name="probe-text")
    as_json.expect_exit(0, timeout=15)
    as_text.expect_exit(0, timeout=15)

    report = json.loads(as_json.stdout())
    video, audio = report["streams"]
    assert video["media"] == "video" and video["codec"] == "h264"
    assert (video["width"], video["height"]) == (320, 240)
    assert video["frame_rate"] == pytest.approx(25.0, abs=0.5)
    assert video["profile"] == "High"
    assert audio["media"] == "audio" and audio["codec"] == "aac"
    assert (audio["sample_rate"], audio["channels"]) == (44100, 1)
    assert 20_000 < audio["bitrate"] < 200_000
    assert 50_000 < video["bitrate"] < 2_000_000
    assert report["bitrate"] > video["bitrate"]
    assert report["metadata"]["encoder"].startswith("Lavf")

    text = as_text.stdout()
    assert re.search(r"video: h264 \(High\), 320x240, 2[45]\.\d\d fps", text), text
    assert "audio: aac (LC), 44100 Hz, mono" in text


def test_probe_nothing_within_duration(peers: Peers) -> None:
    _server, port = serve(peers)
    began = time.monotonic()
    result = run("probe", f"rtmp://127.0.0.1:{port}/live/empty", "--duration", "1", "--json")
    assert time.monotonic() - began < 5
    assert result.returncode == 1
    assert_clean_error(result, r"no audio or video within 1 s")


# -- errors and the terminal -------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        (["play", "http://example.com/live/x"], r"http:// is not RTMP"),
        (["probe", "rtmp://127.0.0.1/live"], r"no stream key"),
        (["publish", "x.flv", "rtmp://h:99999/live/x"], r"port '99999'"),
    ],
)
def test_bad_url(arguments: list[str], pattern: str) -> None:
    result = run(*arguments)
    assert result.returncode == 2
    assert_clean_error(result, pattern)


@pytest.mark.parametrize("command", ["play", "probe"])
def test_unreachable(command: str) -> None:
    port = free_port()  # nothing listens there
    options = ["-o", "-"] if command == "play" else ["--json"]
    result = run(command, f"rtmp://127.0.0.1:{port}/live/x", *options)
    assert result.returncode == 3
    assert_clean_error(result, rf"could not connect to 127\.0\.0\.1:{port}: .*Connection refused")


def test_rtmps_certificate_checks(peers: Peers, sample_flv: Path, tmp_path: Path) -> None:
    nginx = peers.nginx_rtmp(tls=True)
    url = nginx.url("live", "secure", tls=True)
    # Certificates are checked: nginx's test CA is unknown...
    untrusted = run("probe", url, "--duration", "1", env={"SSL_CERT_FILE": os.devnull})
    assert untrusted.returncode == 3
    assert_clean_error(untrusted, r"could not connect .*certificate verify failed")
    # ... until OpenSSL is told about it (SSL_CERT_FILE, as for any Python program).
    trusted = {"SSL_CERT_FILE": str(nginx.ca_path)}
    peers.ffmpeg_publish(nginx.url("live", "secure"), sample_flv, loop=True)
    nginx.wait_for_publish("secure")
    probe = run("probe", url, "--json", env=trusted, timeout=15)
    assert probe.returncode == 0, probe.stderr
    assert "h264" in probe.stdout


def test_usage_and_version() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: trio-rtmp" in result.stderr
    result = run("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"trio-rtmp \S+\n", result.stdout)
    for command in ("serve", "play", "publish", "probe"):
        result = run(command, "--help")
        assert result.returncode == 0
        assert f"usage: trio-rtmp {command}" in result.stdout


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")
def test_status_line_and_progress_bar_on_a_terminal(
    peers: Peers, sample_media: SampleCache, tmp_path: Path
) -> None:
    sample = sample_media.get(seconds=2.0)
    server, port = serve(peers, "-v")
    url = f"rtmp://127.0.0.1:{port}/live/tty"

    def on_terminal(
        *args: object, stdin: Any = subprocess.DEVNULL
    ) -> tuple[subprocess.Popen[bytes], int]:
        controller, terminal = os.openpty()
        process = subprocess.Popen(
            [*CLI, *map(str, args)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
        os.close(terminal)
        return process, controller

    def read_all(controller: int) -> str:
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(controller)
        return b"".join(chunks).decode(errors="replace")

    player, player_tty = on_terminal("play", url, "-o", tmp_path / "tty.flv", "--duration", "1.5")
    # The player waits for the publisher, so the frames reach it at the publisher's
    # real-time pace (joining later, it would get the cached start in one burst and
    # rightly show a higher frame rate).
    server.wait_for_log("live/tty: played by")
    publisher, publisher_tty = on_terminal("publish", sample, url)
    try:
        assert publisher.wait(timeout=15) == 0
        assert player.wait(timeout=15) == 0
    finally:
        for process in (player, publisher):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=WAIT)
    status = read_all(player_tty)
    progress = read_all(publisher_tty)
    # Redrawn in place with carriage returns, ended with a newline.
    assert "\r" in status and status.endswith("\n")
    assert re.search(r"time 00:00:0\d\.\d  \d+ kbit/s  2\d\.\d fps  \d+\.\d KiB", status), status
    assert re.search(r"\[#{24}\] 100%  00:00:0\d\.\d / 00:00:02\.\d", progress), progress
    # From stdin, with no size to show progress against: media time, bitrate, bytes.
    with sample.open("rb") as stdin:
        publisher, publisher_tty = on_terminal("publish", "-", url, stdin=stdin)
    try:
        assert publisher.wait(timeout=15) == 0
    finally:
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait(timeout=WAIT)
    progress = read_all(publisher_tty)
    assert re.search(r"stdin  00:00:0[12]\.\d  \d+ kbit/s  \d+\.\d KiB", progress), progress


def test_kept_headers_are_bounded_and_the_latest_stay() -> None:
    """A publisher cycling through track configurations: at most 64 header keys are
    kept, an update keeps its key's place, and a new key pushes the oldest out."""
    headers: dict[Any, bytes] = {}
    keys = [(TagType.VIDEO, False, (track,)) for track in range(70)]
    for key in keys[:64]:
        cli._remember(headers, key, b"first")
    cli._remember(headers, keys[0], b"updated")
    assert list(headers) == keys[:64]
    assert headers[keys[0]] == b"updated"
    for key in keys[64:]:
        cli._remember(headers, key, b"new")
    assert list(headers) == keys[6:]
    assert headers[keys[69]] == b"new"
