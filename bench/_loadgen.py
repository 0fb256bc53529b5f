"""The load generator of ``bench/fanout.py``: RTMP players (and a latency publisher).

Run by ``fanout.py`` as a child process; not meant to be run by hand, though it can be:

    python bench/_loadgen.py players --port P --count 500
    python bench/_loadgen.py latency --port P --players 100 --seconds 10 --media sample.flv

``players``: ``count`` players of ``rtmp://host:port/app/key``.  Each does the
handshake, connect, createStream and play with our sans-IO ``ClientConnection``; once
NetStream.Play.Start arrives it stops parsing and only counts the bytes it receives
(sending an Acknowledgement whenever the server's window is crossed, as a real player
does).  To stay cheap, counting players are read in batches: every ``--tick`` seconds,
one ``recv_into`` per readable socket into one shared buffer.  The process prints one
JSON line when every player plays (or failed), then answers commands on stdin, one
JSON line each: ``mark`` (read everything pending, then report the time, each player's
byte count and this process's CPU time) and ``quit``.

``latency``: a publisher and ``players`` players in this one process, on one clock.
The publisher sends about 600 kbit/s (25 video messages of 2700 bytes and 43 audio
messages of 186 bytes a second, after the real sequence headers taken from
``--media``), each carrying its sequence number and ``time.perf_counter_ns()`` at
sending.  The players parse every message (our ``ChunkReader``) and record receive time
minus send time.  Sockets are read as soon as they are readable, and every readable
socket is read (and time-stamped) before any is parsed, so parsing does not delay the
time stamps of the others.  Prints one JSON line with the percentiles and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trio_rtmp.core.chunks import ChunkReader, Message, encode_message
from trio_rtmp.core.connection import ClientConnection
from trio_rtmp.core.errors import ProtocolError
from trio_rtmp.core.events import (
    Connected,
    ConnectionClosed,
    ConnectRejected,
    PlayRejected,
    PlayStarted,
    PublishRejected,
    PublishStarted,
    StreamCreated,
)
from trio_rtmp.media.flvfile import read_flv

_EPOLLIN = select.EPOLLIN
_ERRORS = select.EPOLLERR | select.EPOLLHUP
# What a server asks to be acknowledged by when it says nothing (FFmpeg's default).
_DEFAULT_WINDOW = 2_500_000
_CONNECT_TIMEOUT = 5.0

# Latency messages: a tag body prefix, then MAGIC, sequence number and send time.
_MAGIC = b"TRLT"
_STAMP = struct.Struct(">4sQQ")
_VIDEO_KEY = b"\x17\x01\x00\x00\x00"
_VIDEO_INTER = b"\x27\x01\x00\x00\x00"
_AUDIO_RAW = b"\xaf\x01"
_VIDEO_SIZE = 2700
_AUDIO_SIZE = 186
_VIDEO_INTERVAL_NS = 40_000_000  # 25 per second
_AUDIO_INTERVAL_NS = 1024 * 1_000_000_000 // 44100  # AAC frames at 44.1 kHz: 43 a second


def _acknowledgement(sequence_number: int) -> bytes:
    """An Acknowledgement message, chunked with a full header (valid after anything)."""
    return encode_message(2, 3, 0, 0, (sequence_number & 0xFFFFFFFF).to_bytes(4, "big"), 128)


class Player:
    """One player connection: the sans-IO client until play starts, then a byte counter."""

    __slots__ = (
        "acked",
        "conn",
        "error",
        "fd",
        "key",
        "out",
        "playing",
        "reader",
        "received",
        "sock",
        "window",
    )

    def __init__(self, sock: socket.socket, key: str, app: str, host: str, port: int) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.key = key
        self.conn: ClientConnection | None = ClientConnection(
            random=os.urandom(1528), time=int(time.monotonic() * 1000) & 0xFFFFFFFF
        )
        self.conn.connect(app=app, tc_url=f"rtmp://{host}:{port}/{app}")
        self.out = self.conn.data_to_send()
        self.playing = False
        self.error: str | None = None
        # Bytes received after the handshake (the Acknowledgement sequence number),
        # the count at our last Acknowledgement, and the server's window.
        self.received = 0
        self.acked = 0
        self.window = _DEFAULT_WINDOW
        # The latency players keep parsing with the connection's chunk reader.
        self.reader: ChunkReader | None = None

    def flush(self) -> None:
        """Send what is pending; keep what the socket did not take."""
        if self.conn is not None:
            self.out += self.conn.data_to_send()
        if self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return
            self.out = self.out[sent:]

    def setup_receive(self, data: bytes) -> bool:
        """Feed setup bytes to the client; advance connect -> createStream -> play.

        Returns whether the player plays now.
        """
        conn = self.conn
        assert conn is not None
        events = conn.receive_data(data)
        for event in events:
            if isinstance(event, Connected):
                conn.create_stream()
            elif isinstance(event, StreamCreated):
                conn.play(event.stream_id, self.key)
            elif isinstance(event, PlayStarted):
                self.playing = True
            elif isinstance(event, ConnectRejected | PlayRejected):
                self.error = f"{type(event).__name__}: {event.code} {event.description}"
            elif isinstance(event, ConnectionClosed):
                self.error = "the server closed the connection during setup"
        self.flush()
        return self.playing

    def start_counting(self, keep_reader: bool) -> None:
        """Play started: from now on count bytes (and maybe parse with the chunk reader)."""
        conn = self.conn
        assert conn is not None
        self.received = conn.bytes_received
        # The connection's own acknowledgement state, so the next one comes on time.
        self.acked = conn._acked
        self.window = conn._ack_window or _DEFAULT_WINDOW
        if keep_reader:
            self.reader = conn._reader
        self.flush()
        self.conn = None


class PlayerSet:
    """Players being set up (on one epoll, served at once) and playing (on another,
    read in batches)."""

    def __init__(
        self,
        host: str,
        port: int,
        app: str,
        key: str,
        count: int,
        *,
        concurrency: int,
        keep_reader: bool,
    ) -> None:
        self.host = host
        self.port = port
        self.app = app
        self.key = key
        self.count = count
        self.concurrency = concurrency
        self.keep_reader = keep_reader
        self.players: list[Player] = []
        self.by_fd: dict[int, Player] = {}
        # Players in setup, and players playing.
        self.setup_epoll = select.epoll()
        self.epoll = select.epoll()
        self.failed: list[str] = []
        self.buffer = bytearray(256 * 1024)
        self.view = memoryview(self.buffer)

    def _open(self) -> Player | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(_CONNECT_TIMEOUT)
            sock.connect((self.host, self.port))
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            self.failed.append(f"connect: {exc}")
            return None
        player = Player(sock, self.key, self.app, self.host, self.port)
        player.flush()
        self.players.append(player)
        self.by_fd[player.fd] = player
        self.setup_epoll.register(player.fd, _EPOLLIN)
        return player

    def drop(self, player: Player, reason: str) -> None:
        """Close a player (it stays in :attr:`players`, with its error)."""
        if player.error is None:
            player.error = reason
        for epoll in (self.setup_epoll, self.epoll):
            with contextlib.suppress(OSError):
                epoll.unregister(player.fd)
        self.by_fd.pop(player.fd, None)
        player.sock.close()

    def setup(self, timeout: float, tick: float, read_playing: Callable[[], None]) -> None:
        """Open every player (``concurrency`` setups at a time) until all play or fail.

        Setup traffic is served as soon as it arrives; the players already playing
        are read every ``tick`` seconds with ``read_playing`` (reading each of their
        messages as it comes would cost more than the server's work).
        """
        deadline = time.monotonic() + timeout
        next_tick = time.monotonic() + tick
        opened = 0
        pending: set[Player] = set()
        while True:
            while opened < self.count and len(pending) < self.concurrency:
                opened += 1
                player = self._open()
                if player is not None:
                    pending.add(player)
            now = time.monotonic()
            if now >= next_tick:
                next_tick = max(next_tick + tick, now)
                read_playing()
            if not pending and opened >= self.count:
                break
            if now > deadline:
                for player in pending:
                    self.drop(player, "setup timed out")
                break
            for fd, _ in self.setup_epoll.poll(min(0.01, max(0.0, next_tick - now))):
                player = self.by_fd[fd]
                try:
                    data = player.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    data = b""
                    player.error = f"recv: {exc}"
                started = False
                try:
                    started = player.setup_receive(data)
                except (ProtocolError, OSError) as exc:
                    player.error = f"{type(exc).__name__}: {exc}"
                if started:
                    player.start_counting(self.keep_reader)
                    pending.discard(player)
                    self.setup_epoll.unregister(player.fd)
                    self.epoll.register(player.fd, _EPOLLIN)
                elif player.error is not None or not data:
                    self.drop(player, "closed by the server")
                    pending.discard(player)
            for player in pending:
                if player.out:
                    player.flush()
        self.failed += [p.error for p in self.players if not p.playing and p.error]

    def count_ready(self) -> None:
        """Read every readable playing socket: count the bytes, acknowledge on time."""
        into = self.view
        size = len(into)
        by_fd = self.by_fd
        for fd, _ in self.epoll.poll(0):
            player = by_fd.get(fd)
            if player is None:
                continue
            sock = player.sock
            while True:
                try:
                    n = sock.recv_into(into, size)
                except BlockingIOError:
                    break
                except OSError as exc:
                    self.drop(player, f"recv: {exc}")
                    break
                if n == 0:
                    self.drop(player, "closed by the server")
                    break
                received = player.received + n
                player.received = received
                if received - player.acked >= player.window:
                    player.acked = received
                    player.out += _acknowledgement(received)
                    player.flush()
                if n < size:
                    break

    def parse_ready(self) -> list[tuple[Player, bytes, int]]:
        """Read every readable playing socket; returns (player, bytes, arrival ns).

        Everything is read (and stamped) before anything is parsed.
        """
        out: list[tuple[Player, bytes, int]] = []
        for fd, _ in self.epoll.poll(0):
            arrival = self.read(fd)
            if arrival is not None:
                out.append(arrival)
        return out

    def read(self, fd: int) -> tuple[Player, bytes, int] | None:
        """Read a readable playing socket once: (player, bytes, arrival ns), or None
        (not a player, nothing there, or closed: then the player is dropped)."""
        player = self.by_fd.get(fd)
        if player is None:
            return None
        try:
            data = player.sock.recv(262144)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        arrived = time.perf_counter_ns()
        if not data:
            self.drop(player, "closed by the server")
            return None
        return player, data, arrived

    @staticmethod
    def feed(player: Player, data: bytes) -> list[Message]:
        """Parse a playing player's bytes (latency players); acknowledge on time."""
        reader = player.reader
        assert reader is not None
        total = player.received + len(data)
        player.received = total
        if total - player.acked >= player.window:
            player.acked = total
            player.out += _acknowledgement(total)
            player.flush()
        return reader.receive_data(data)

    @property
    def playing(self) -> int:
        return sum(1 for p in self.players if p.playing and p.error is None)


# -- players: counting ------------------------------------------------------------------


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def run_players(options: argparse.Namespace) -> int:
    players = PlayerSet(
        options.host,
        options.port,
        options.app,
        options.key,
        options.count,
        concurrency=options.concurrency,
        keep_reader=False,
    )

    players.setup(options.setup_timeout, options.tick, players.count_ready)
    # Nothing cyclic is made from here on: no collector pauses while counting.
    gc.freeze()
    gc.disable()
    _emit(
        {
            "event": "ready",
            "playing": players.playing,
            "failed": len(players.failed),
            "errors": players.failed[:5],
        }
    )
    totals = [0] * len(players.players)
    start_received = [p.received for p in players.players]
    drain = players.count_ready

    control = select.epoll()
    control.register(sys.stdin.fileno(), _EPOLLIN)
    pending = b""
    tick = options.tick
    next_tick = time.monotonic() + tick
    while True:
        timeout = max(0.0, next_tick - time.monotonic())
        if control.poll(timeout):
            chunk = os.read(sys.stdin.fileno(), 4096)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                command = line.strip().decode()
                if command == "mark":
                    drain()
                    for i, player in enumerate(players.players):
                        totals[i] = player.received - start_received[i]
                    _emit(
                        {
                            "event": "mark",
                            "t": time.monotonic(),
                            "cpu": _cpu_seconds(),
                            "counts": totals,
                            "alive": [p.playing and p.error is None for p in players.players],
                        }
                    )
                elif command == "quit":
                    for player in players.players:
                        player.sock.close()
                    return 0
        now = time.monotonic()
        if now >= next_tick:
            next_tick = max(next_tick + tick, now)
            drain()
    return 0


# -- latency: publisher and parsing players ------------------------------------------------


def _sequence_headers(media: Path) -> tuple[bytes, bytes]:
    """The AVC and AAC sequence headers (tag bodies) of an FLV file."""
    video = audio = None
    for tag in read_flv(media.read_bytes()).tags:
        if video is None and tag.tag_type == 9 and tag.data[1:2] == b"\x00":
            video = tag.data
        if audio is None and tag.tag_type == 8 and tag.data[1:2] == b"\x00":
            audio = tag.data
        if video is not None and audio is not None:
            return video, audio
    raise SystemExit(f"{media}: no AVC and AAC sequence headers")


class Publisher:
    """The latency publisher: our client, publishing stamped messages."""

    def __init__(self, host: str, port: int, app: str, key: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = ClientConnection(
            random=os.urandom(1528), time=int(time.monotonic() * 1000) & 0xFFFFFFFF
        )
        self.conn.connect(app=app, tc_url=f"rtmp://{host}:{port}/{app}")
        self.key = key
        self.stream_id = 0
        self.started = False
        self.out = b""
        self.flush()

    def flush(self) -> None:
        self.out += self.conn.data_to_send()
        if self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return
            self.out = self.out[sent:]

    def receive(self, data: bytes) -> None:
        if not data:
            raise SystemExit("the server closed the publisher's connection")
        for event in self.conn.receive_data(data):
            if isinstance(event, Connected):
                self.conn.create_stream()
            elif isinstance(event, StreamCreated):
                self.stream_id = event.stream_id
                self.conn.publish(event.stream_id, self.key)
            elif isinstance(event, PublishStarted):
                self.started = True
            elif isinstance(event, ConnectRejected | PublishRejected):
                raise SystemExit(f"publish refused: {event.code} {event.description}")
        self.flush()


def _percentile(ordered: list[int], fraction: float) -> float:
    if not ordered:
        return float("nan")
    position = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[position] / 1e6


def run_latency(options: argparse.Namespace) -> int:
    video_header, audio_header = _sequence_headers(Path(options.media))
    publisher = Publisher(options.host, options.port, options.app, options.key)
    deadline = time.monotonic() + options.setup_timeout
    while not publisher.started:
        if time.monotonic() > deadline:
            raise SystemExit("the publisher did not start in time")
        select.select([publisher.sock], [], [], 0.05)
        with contextlib.suppress(BlockingIOError):
            publisher.receive(publisher.sock.recv(65536))
    conn = publisher.conn
    stream_id = publisher.stream_id
    origin = time.perf_counter_ns()

    def stamp(kind: bytes, size: int, sequence: int, now: int) -> bytes:
        head = kind + _STAMP.pack(_MAGIC, sequence, now)
        return head + bytes(size - len(head))

    conn.send_video(stream_id, 0, video_header)
    conn.send_audio(stream_id, 0, audio_header)
    publisher.flush()

    next_video = next_audio = time.perf_counter_ns()
    video_sequence = audio_sequence = 0
    sent = 0
    sent_measured = 0
    warmup_end = measure_end = 0

    def publish_due() -> int:
        """Send what is due; returns the nanoseconds until the next message."""
        nonlocal next_video, next_audio, video_sequence, audio_sequence, sent, sent_measured
        now = time.perf_counter_ns()
        while now >= next_video or now >= next_audio:
            timestamp = ((now - origin) // 1_000_000) & 0xFFFFFFFF
            if next_video <= next_audio:
                kind = _VIDEO_KEY if video_sequence % 25 == 0 else _VIDEO_INTER
                body = stamp(kind, _VIDEO_SIZE, video_sequence, time.perf_counter_ns())
                conn.send_video(stream_id, timestamp, body)
                video_sequence += 1
                next_video += _VIDEO_INTERVAL_NS
            else:
                body = stamp(_AUDIO_RAW, _AUDIO_SIZE, audio_sequence, time.perf_counter_ns())
                conn.send_audio(stream_id, timestamp, body)
                audio_sequence += 1
                next_audio += _AUDIO_INTERVAL_NS
            publisher.flush()
            sent += 1
            now = time.perf_counter_ns()
            if warmup_end <= now < measure_end:
                sent_measured += 1
        return min(next_video, next_audio) - now

    players = PlayerSet(
        options.host,
        options.port,
        options.app,
        options.key,
        options.players,
        concurrency=options.concurrency,
        keep_reader=True,
    )

    def during_setup() -> None:
        for player, data, _ in players.parse_ready():
            players.feed(player, data)

    # The players join a stream that is published (sequence headers sent); the paced
    # messages start after the setup, and only those sent after the warm-up count.
    players.setup(options.setup_timeout, options.tick, during_setup)
    during_setup()
    publisher_fd = publisher.sock.fileno()
    epoll = players.epoll
    epoll.register(publisher_fd, _EPOLLIN)
    latencies: list[int] = []
    received = [0] * len(players.players)
    position = {p.fd: i for i, p in enumerate(players.players)}
    video_offset = len(_VIDEO_KEY)
    audio_offset = len(_AUDIO_RAW)
    unpack = _STAMP.unpack_from
    gc.disable()
    next_video = next_audio = time.perf_counter_ns()
    warmup_end = next_video + int(options.warmup * 1e9)
    measure_end = warmup_end + int(options.seconds * 1e9)
    cpu_start = _cpu_seconds()
    while True:
        wait_ns = publish_due()
        if time.perf_counter_ns() >= measure_end:
            break
        # Read (and stamp) every readable socket first, then parse.
        arrivals: list[tuple[Player, bytes, int]] = []
        for fd, _ in epoll.poll(max(0.0, wait_ns / 1e9)):
            if fd == publisher_fd:
                with contextlib.suppress(BlockingIOError):
                    publisher.receive(publisher.sock.recv(65536))
                continue
            arrival = players.read(fd)
            if arrival is not None:
                arrivals.append(arrival)
        for player, data, arrived in arrivals:
            for message in players.feed(player, data):
                type_id = message.type_id
                if type_id == 9:
                    offset = video_offset
                elif type_id == 8:
                    offset = audio_offset
                else:
                    continue
                payload = message.payload
                if payload[offset : offset + 4] != _MAGIC:
                    continue
                _, _, sent_at = unpack(payload, offset)
                if sent_at >= warmup_end:
                    latencies.append(arrived - sent_at)
                    received[position[player.fd]] += 1
    cpu = _cpu_seconds() - cpu_start
    latencies.sort()
    # Messages sent inside the measured period, each expected by every player.
    _emit(
        {
            "event": "latency",
            "players": len(players.players),
            "playing": players.playing,
            "failed": len(players.failed),
            "errors": players.failed[:5],
            "samples": len(latencies),
            "sent": sent_measured,
            "p50_ms": _percentile(latencies, 0.50),
            "p90_ms": _percentile(latencies, 0.90),
            "p99_ms": _percentile(latencies, 0.99),
            "max_ms": _percentile(latencies, 1.0),
            "min_ms": _percentile(latencies, 0.0),
            "per_player_min": min(received) if received else 0,
            "per_player_max": max(received) if received else 0,
            "generator_cpu_s": cpu,
            "seconds": options.seconds,
        }
    )
    publisher.sock.close()
    for player in players.players:
        player.sock.close()
    return 0


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["players", "latency"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", default="live")
    parser.add_argument("--key", default="bench")
    parser.add_argument("--count", type=int, default=1, help="players (players mode)")
    parser.add_argument("--players", type=int, default=100, help="players (latency mode)")
    parser.add_argument("--concurrency", type=int, default=32, help="setups at once")
    parser.add_argument("--tick", type=float, default=0.03, help="counting read interval (s)")
    parser.add_argument("--setup-timeout", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="latency measurement (s)")
    parser.add_argument("--warmup", type=float, default=1.0, help="latency warm-up (s)")
    parser.add_argument("--media", default="", help="FLV with the sequence headers (latency)")
    options = parser.parse_args(argv)
    if options.mode == "players":
        return run_players(options)
    return run_latency(options)


if __name__ == "__main__":
    sys.exit(main())
