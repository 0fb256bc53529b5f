"""The handshake against real peers: nginx-rtmp and FFmpeg as servers, FFmpeg and
rtmpdump as clients.

Plain blocking sockets on 127.0.0.1 drive the sans-IO classes; every wait is bounded
and every peer process is started by the ``spawn`` fixture (nginx by the shared
``nginx_rtmp`` fixture of tests/conftest.py) and killed by its PID.  A
missing peer skips the test, or fails it when ``TRIO_RTMP_REQUIRE_PEERS=1``.

The controls (a bogus S1 digest, a garbage C2) show that the peers really check what
the positive tests rely on, so those tests can fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from peers import NginxRtmp, free_port, peer_binary

from trio_rtmp.core.handshake import ClientHandshake, ServerHandshake

pytestmark = pytest.mark.interop

WAIT = 10.0  # upper bound on any single wait for a peer, in seconds

Spawn = Callable[[list[str], str], subprocess.Popen[bytes]]


def random_bytes() -> bytes:
    return os.urandom(1528)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a peer process with stderr in ``tmp_path/<name>.stderr``; killed at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], name: str) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"{name}.stderr", "wb") as stderr:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()  # by PID: Popen.kill signals exactly this process
        process.wait(timeout=WAIT)


def stderr_of(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.stderr").read_text(errors="replace")


def connect(port: int, process: subprocess.Popen[bytes], what: str) -> socket.socket:
    """Connect to a peer that is still starting up, retrying until WAIT runs out."""
    deadline = time.monotonic() + WAIT
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} before accepting")
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1.0)
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not accept connections within {WAIT} s")
            time.sleep(0.05)
            continue
        sock.settimeout(WAIT)
        return sock


def listen() -> tuple[socket.socket, int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(WAIT)
    return listener, listener.getsockname()[1]


def accept(listener: socket.socket) -> socket.socket:
    connection, _ = listener.accept()
    connection.settimeout(WAIT)
    return connection


def drive(sock: socket.socket, handshake: ClientHandshake | ServerHandshake) -> None:
    """Pump bytes between a socket and a handshake until it completes (bounded)."""
    deadline = time.monotonic() + WAIT
    sock.sendall(handshake.data_to_send())
    while not handshake.complete:
        assert time.monotonic() < deadline, "handshake did not complete in time"
        handshake.receive_data(sock.recv(65536))
        sock.sendall(handshake.data_to_send())


def read_at_least(sock: socket.socket, data: bytes, size: int) -> bytes:
    deadline = time.monotonic() + WAIT
    while len(data) < size:
        assert time.monotonic() < deadline, f"only {len(data)} bytes after the handshake"
        more = sock.recv(65536)
        assert more, f"peer closed after sending {len(data)} bytes past the handshake"
        data += more
    return data


def assert_starts_with_connect(data: bytes) -> None:
    """The first chunk is a type-0 header of an AMF0 command (20) named "connect"."""
    first = data[0]
    assert first >> 6 == 0, "the first chunk must carry a full (type 0) message header"
    position = 1 + {0: 1, 1: 2}.get(first & 0x3F, 0)
    header = data[position : position + 11]
    timestamp = int.from_bytes(header[0:3], "big")
    message_type = header[6]
    assert message_type == 20, f"first message type {message_type}, expected 20 (AMF0 command)"
    position += 11 + (4 if timestamp == 0xFFFFFF else 0)
    assert data[position : position + 10] == b"\x02\x00\x07connect"


# -- nginx-rtmp as the server -----------------------------------------------------------


def test_digest_client_against_nginx(nginx_rtmp: NginxRtmp) -> None:
    client = ClientHandshake(time=123456, random=random_bytes())
    client.initiate()
    with connect(nginx_rtmp.port, nginx_rtmp.process.popen, "nginx") as sock:
        drive(sock, client)
        # nginx now waits for the connect command rather than closing on us.
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    assert client.peer_uses_digest, "nginx's S1 digest was not recognised"
    assert client.peer_digest_scheme == 0
    assert client.peer_version not in (None, bytes(4))
    # nginx keys S2 from the digest it found in our C1, so this proves it found it.
    assert client.peer_verified
    assert client.unused_data() == b""
    log = nginx_rtmp.log()
    assert "digest not found" not in log
    assert "handshake: error" not in log


def test_simple_client_against_nginx(nginx_rtmp: NginxRtmp) -> None:
    client = ClientHandshake(time=77, random=random_bytes(), digest=False)
    client.initiate()
    with connect(nginx_rtmp.port, nginx_rtmp.process.popen, "nginx") as sock:
        drive(sock, client)
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)
    assert not client.peer_uses_digest
    assert client.peer_version == bytes(4)
    assert client.peer_verified  # nginx's old-style S2 is an echo of our C1
    assert "handshake: error" not in nginx_rtmp.log()


# -- FFmpeg as the client ---------------------------------------------------------------


def test_server_with_ffmpeg_publisher(tmp_path: Path, spawn: Spawn) -> None:
    ffmpeg = peer_binary("ffmpeg")
    listener, port = listen()
    with listener:
        spawn(
            [ffmpeg, "-hide_banner", "-nostdin", "-re", "-f", "lavfi",
             "-i", "testsrc=size=64x64:rate=5", "-t", "2", "-c:v", "libx264",
             "-f", "flv", f"rtmp://127.0.0.1:{port}/live/x"],
            "ffmpeg",
        )  # fmt: skip
        with accept(listener) as sock:
            server = ServerHandshake(time=5, random=random_bytes())
            drive(sock, server)
            after = read_at_least(sock, server.unused_data(), 32)
    assert server.peer_uses_digest
    assert server.peer_digest_scheme == 0
    assert server.peer_version == b"\x09\x00\x7c\x02"
    assert server.peer_verified  # a publishing FFmpeg echoes S1, which we accept
    assert_starts_with_connect(after)


@pytest.mark.parametrize("digest", [True, False])
def test_server_with_ffmpeg_player(tmp_path: Path, spawn: Spawn, digest: bool) -> None:
    """A playing FFmpeg checks S1's digest and S2's signature and drops us if wrong."""
    ffmpeg = peer_binary("ffmpeg")
    listener, port = listen()
    with listener:
        spawn(
            [ffmpeg, "-hide_banner", "-nostdin", "-i", f"rtmp://127.0.0.1:{port}/live/x",
             "-t", "1", "-f", "null", "-"],
            "ffmpeg",
        )  # fmt: skip
        with accept(listener) as sock:
            server = ServerHandshake(random=random_bytes(), digest=digest)
            drive(sock, server)
            after = read_at_least(sock, server.unused_data(), 32)
    assert server.peer_uses_digest
    # With a digest S1 FFmpeg answers with a digest C2, otherwise with an echo.
    assert server.peer_verified
    assert_starts_with_connect(after)
    assert "validating failed" not in stderr_of(tmp_path, "ffmpeg")
    assert "Signature mismatch" not in stderr_of(tmp_path, "ffmpeg")


def test_control_ffmpeg_player_rejects_a_bogus_server_digest(tmp_path: Path, spawn: Spawn) -> None:
    """Shows the player test above can fail: an S1 claiming a digest it lacks is fatal."""
    ffmpeg = peer_binary("ffmpeg")
    listener, port = listen()
    with listener:
        process = spawn(
            [ffmpeg, "-hide_banner", "-nostdin", "-i", f"rtmp://127.0.0.1:{port}/live/x",
             "-t", "1", "-f", "null", "-"],
            "ffmpeg",
        )  # fmt: skip
        with accept(listener) as sock:
            read_at_least(sock, b"", 1537)
            # A non-zero version field (first byte >= 3) but no digest anywhere.
            bogus_s1 = bytes(4) + b"\x04\x05\x00\x01" + random_bytes()
            s2 = os.urandom(1536)
            sock.sendall(b"\x03" + bogus_s1 + s2)
            deadline = time.monotonic() + WAIT
            try:
                while sock.recv(65536):
                    assert time.monotonic() < deadline
            except ConnectionResetError:
                pass
        process.wait(timeout=WAIT)
    assert process.returncode != 0
    assert "validating failed" in stderr_of(tmp_path, "ffmpeg")


# -- FFmpeg as a simple server ----------------------------------------------------------


def start_ffmpeg_listener(spawn: Spawn) -> tuple[int, subprocess.Popen[bytes]]:
    ffmpeg = peer_binary("ffmpeg")
    port = free_port()
    process = spawn(
        [ffmpeg, "-hide_banner", "-nostdin", "-listen", "1",
         "-i", f"rtmp://127.0.0.1:{port}/live/x", "-f", "null", "-"],
        "ffmpeg",
    )  # fmt: skip
    return port, process


def wait_quietly(tmp_path: Path, seconds: float) -> str:
    """Give FFmpeg ``seconds`` to complain; return its stderr."""
    time.sleep(seconds)
    return stderr_of(tmp_path, "ffmpeg")


@pytest.mark.parametrize("digest", [True, False])
def test_client_against_ffmpeg_listen(tmp_path: Path, spawn: Spawn, digest: bool) -> None:
    port, process = start_ffmpeg_listener(spawn)
    client = ClientHandshake(time=31337, random=random_bytes(), digest=digest)
    client.initiate()
    with connect(port, process, "ffmpeg -listen 1") as sock:
        drive(sock, client)
        stderr = wait_quietly(tmp_path, 1.0)
        assert process.poll() is None, f"ffmpeg exited after the handshake:\n{stderr}"
    assert "Erroneous" not in stderr
    assert "Handshake" not in stderr
    assert not client.peer_uses_digest  # FFmpeg's server handshake is the simple one
    assert client.peer_version == bytes(4)
    assert client.peer_time == 31337  # FFmpeg's S1 reuses the client's time
    assert client.peer_verified


def test_control_ffmpeg_listen_notices_a_wrong_c2(tmp_path: Path, spawn: Spawn) -> None:
    """Shows the test above can fail: FFmpeg does warn about a C2 that is not an echo."""
    port, process = start_ffmpeg_listener(spawn)
    client = ClientHandshake(random=random_bytes())
    client.initiate()
    with connect(port, process, "ffmpeg -listen 1") as sock:
        sock.sendall(client.data_to_send())
        read_at_least(sock, b"", 3073)
        sock.sendall(bytes(1536))
        deadline = time.monotonic() + WAIT
        while "Erroneous C2" not in stderr_of(tmp_path, "ffmpeg"):
            assert time.monotonic() < deadline, "ffmpeg never complained about the C2"
            time.sleep(0.05)


# -- rtmpdump (librtmp) as the client -----------------------------------------------------


def test_server_with_rtmpdump(tmp_path: Path, spawn: Spawn) -> None:
    rtmpdump = peer_binary("rtmpdump")
    listener, port = listen()
    with listener:
        spawn(
            [rtmpdump, "-r", f"rtmp://127.0.0.1:{port}/live/x", "-o", os.devnull, "-m", "5"],
            "rtmpdump",
        )
        with accept(listener) as sock:
            server = ServerHandshake(random=random_bytes())
            drive(sock, server)
            after = read_at_least(sock, server.unused_data(), 32)
    # librtmp sends a simple C1 unless asked for SWF verification or RTMPE.
    assert not server.peer_uses_digest
    assert server.peer_version == bytes(4)
    assert server.peer_verified
    assert_starts_with_connect(after)
