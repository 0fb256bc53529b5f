"""The relay's fan-out cost against nginx-rtmp, measured in the same run on the same load.

    python bench/fanout.py [--players 200,1000] [--seconds 30] [--latency-players 100]
                           [--latency-seconds 10] [--rounds 1] [--quick] [--no-pin]
                           [--servers trio-rtmp,nginx-rtmp] [--ours-command CMD]

What runs, for each player count N and for each server (``trio-rtmp serve`` and
nginx-rtmp, in turn, each in a fresh process):

1. The server, pinned to CPU 0 (``taskset``; everything else of the benchmark runs on
   the other CPUs, unless ``--no-pin`` or the machine has one CPU), so that the load
   generators do not take CPU time from it.  nginx-rtmp runs as one process
   (``daemon off; master_process off;``), so both servers are one PID.  Other
   programs on the machine are not kept off CPU 0: run it on a quiet machine.
2. One FFmpeg publisher (``-re -stream_loop -1``, ``-c copy``) of a generated
   ~600 kbit/s H.264 + AAC FLV (640x360 25 fps, x264 CBR 540 kbit/s, AAC 64 kbit/s),
   through a counting TCP proxy (so we know what the publisher sent), and one
   reference player in its own process.
3. Baseline: the server's CPU time and RSS with just the publisher and the reference
   player, over ``--baseline-seconds``.
4. N players from load-generator processes (``bench/_loadgen.py``, up to
   ``--per-process`` players each): non-blocking sockets on epoll, our sans-IO
   ``ClientConnection`` until NetStream.Play.Start, then no parsing at all: every
   ``--tick`` seconds one ``recv_into`` per readable socket, counting bytes and sending
   an Acknowledgement whenever the server's window is crossed.
5. After a warm-up, the measurement window (``--seconds``).  Reported:

   - **CPU s / player-min**: the server's CPU time (utime + stime from /proc/PID/stat)
     over the window, minus the baseline rate times the window, divided by N and by
     the window in minutes.  The totals (CPU % of one core, window and baseline) are
     printed too, and the user part (the rest is kernel time: sends, and on loopback
     the receiving side's TCP work too).  nginx-rtmp leaves Nagle's algorithm on for
     its players (it never sets TCP_NODELAY) while Trio sets TCP_NODELAY on every
     socket; that alone makes a large difference in kernel time.
   - **RSS / player**: (VmRSS at the end of the window - VmRSS at the end of the
     baseline) / N, from /proc/PID/status.
   - **complete**: the share of the N players that received at least 95 % of the bytes
     the reference player received over the same window (each process reads its
     counters at the same instant).  The reference's and the publisher's rates are
     printed, so a server that falls behind its publisher shows.
   - the load generators' own CPU (% of one core), to show they are not saturated.

Then publish-to-play latency at ``--latency-players`` players, for each server: a
publisher (our client) and the players in one process (``_loadgen.py latency``), the
publisher sending ~600 kbit/s of small messages stamped with ``time.perf_counter_ns()``
and a sequence number, the players parsing every message and recording receive time
minus send time.  Same clock, loopback: the figure is what the relay adds, plus
loopback TCP and the generator's own scheduling.

The ratios are trio-rtmp / nginx-rtmp.  The targets (issue 7): CPU per player at most
2x nginx-rtmp's at N = 200 and 1000, at least 99 % of players complete, RSS under
100 KiB per player, latency p99 under 10 ms at 100 players.  The script reports them;
it does not fail on them.

``--quick`` is a smoke run (N = 20, 5 s windows, 20 latency players) for the tests.
``--ours-command`` runs another command as "trio-rtmp" (``{host}``, ``{port}`` and
``{connections}`` are replaced), to measure a change to the relay against nginx-rtmp.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import select
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "_loadgen.py"
NGINX_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
HOST = "127.0.0.1"
APP = "live"
KEY = "bench"
COMPLETE = 0.95
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OURS = "trio-rtmp"
NGINX = "nginx-rtmp"

# The relay without the CLI, for when ``python -m trio_rtmp serve`` is not there yet.
RELAY_SCRIPT = """\
import sys
import trio
sys.path.insert(0, {root!r})
from trio_rtmp.relay import Relay
from trio_rtmp.server import ServerConfig

async def main() -> None:
    config = ServerConfig(max_connections=int(sys.argv[3]))
    await Relay().serve(int(sys.argv[2]), host=sys.argv[1], server_config=config)

trio.run(main)
"""


# -- processes and /proc --------------------------------------------------------------------


def cpu_times(pid: int) -> tuple[float, float]:
    """utime and stime of a process (user and kernel CPU time), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    return sum(cpu_times(pid))


def rss_bytes(pid: int) -> int:
    """VmRSS of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_listening(port: int) -> bool:
    """Whether 127.0.0.1:port listens, read from /proc/net/tcp (no probe connection)."""
    wanted = f"{port:04X}"
    with open("/proc/net/tcp") as table:
        next(table, None)
        for line in table:
            parts = line.split()
            local, state = parts[1], parts[3]
            if state == "0A" and local.endswith(":" + wanted):
                return True
    return False


class Process:
    """A child process with its output in files, stopped by its own PID."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        directory: Path,
        *,
        pipes: bool = False,
        cpus: str | None = None,
    ) -> None:
        self.name = name
        argv = list(command)
        if cpus is not None:
            argv = ["taskset", "-c", cpus, *argv]  # taskset execs: the PID stays
        self.command = argv
        self.stderr_path = directory / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stderr=stderr,
            )
        self._lines = b""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def check_running(self) -> None:
        if self.popen.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line.encode() + b"\n")
        self.popen.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next JSON line of its stdout (bounded wait)."""
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._lines:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.name}: no answer within {timeout:.0f} s")
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise BenchError(f"{self.name} ended:\n{self.log_tail()}")
                self._lines += chunk
        line, _, self._lines = self._lines.partition(b"\n")
        record: dict[str, Any] = json.loads(line)
        return record

    def stop(self, grace: float = 5.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(grace)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class BenchError(Exception):
    """A case could not be measured (a process failed or did not answer)."""


def wait_for_listen(process: Process, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_is_listening(port):
        process.check_running()
        if time.monotonic() > deadline:
            raise BenchError(f"{process.name} did not listen on {port} within {timeout} s")
        time.sleep(0.05)


# -- the servers ------------------------------------------------------------------------------


def cli_available() -> bool:
    """Whether ``python -m trio_rtmp serve`` exists (with ``--max-connections``)."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "trio_rtmp", "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and "--max-connections" in result.stdout


def nginx_config(directory: Path, port: int, connections: int) -> str:
    return f"""\
load_module {NGINX_RTMP_MODULE};
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile {connections + 64};
pid {directory / "nginx.pid"};
error_log {directory / "nginx-error.log"} warn;
events {{ worker_connections {connections}; }}
rtmp {{
    access_log {directory / "nginx-access.log"};
    server {{
        listen {HOST}:{port};
        chunk_size 4096;
        application {APP} {{ live on; }}
    }}
}}
"""


@dataclass
class Setup:
    """What every case shares."""

    directory: Path
    media: Path
    server_cpus: str | None
    use_cli: bool
    options: argparse.Namespace


def start_server(setup: Setup, server: str, players: int, tag: str) -> tuple[Process, int]:
    port = free_port()
    connections = players + 64
    if server == NGINX:
        directory = setup.directory / f"nginx-{tag}"
        directory.mkdir()
        config = directory / "nginx.conf"
        config.write_text(nginx_config(directory, port, max(1024, connections)))
        command = [
            shutil.which("nginx") or "nginx",
            "-p",
            f"{directory}/",
            "-c",
            str(config),
            "-e",
            str(directory / "nginx-error.log"),
        ]
    elif setup.options.ours_command:
        command = shlex.split(
            setup.options.ours_command.format(host=HOST, port=port, connections=connections)
        )
    elif setup.use_cli:
        command = [sys.executable, "-m", "trio_rtmp", "serve", "--host", HOST]
        command += ["--port", str(port), "--max-connections", str(connections)]
    else:
        script = setup.directory / "relay_server.py"
        if not script.exists():
            script.write_text(RELAY_SCRIPT.format(root=str(ROOT)))
        command = [sys.executable, str(script), HOST, str(port), str(connections)]
    process = Process(f"{server}-{tag}", command, setup.directory, cpus=setup.server_cpus)
    try:
        wait_for_listen(process, port)
    except BaseException:
        process.stop()
        raise
    return process, port


# -- the publisher and its counting proxy --------------------------------------------------


class CountingProxy:
    """A loopback TCP proxy for the publisher that counts what it sends to the server."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind((HOST, 0))
        self.listener.listen(4)
        self.port: int = self.listener.getsockname()[1]
        self.sent = 0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((HOST, self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, upstream]
            for source, sink, count in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(
                    target=self._pump, args=(source, sink, count), daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while True:
                data = source.recv(262144)
                if not data:
                    break
                if count:
                    self.sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closing = True
        self.listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


def make_media(path: Path, seconds: int) -> None:
    """~600 kbit/s: 640x360 25 fps H.264 (CBR 540 kbit/s, 2 s GOP) + AAC 64 kbit/s."""
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(seconds),
        # Noise keeps x264 at the target rate (the bare test pattern is too easy).
        "-vf", "noise=alls=8:allf=t",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50",
        "-b:v", "540k", "-minrate", "540k", "-maxrate", "540k", "-bufsize", "540k",
        "-x264-params", "nal-hrd=cbr",
        "-c:a", "aac", "-b:a", "64k", "-ac", "1",
        "-f", "flv", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=300)


def media_bitrate(path: Path) -> float:
    """The file's average bitrate (bits/s) from its size and duration."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    duration = float(json.loads(result.stdout)["format"]["duration"])
    return path.stat().st_size * 8 / duration


def start_publisher(setup: Setup, port: int, tag: str) -> Process:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re"]
    command += ["-stream_loop", "-1", "-i", str(setup.media), "-c", "copy", "-map", "0"]
    command += ["-f", "flv", f"rtmp://{HOST}:{port}/{APP}/{KEY}"]
    return Process(f"ffmpeg-{tag}", command, setup.directory)


def start_generator(setup: Setup, port: int, count: int, name: str) -> Process:
    options = setup.options
    command = [sys.executable, str(LOADGEN), "players", "--host", HOST, "--port", str(port)]
    command += ["--app", APP, "--key", KEY, "--count", str(count)]
    command += ["--tick", str(options.tick), "--setup-timeout", str(options.setup_timeout)]
    return Process(name, command, setup.directory, pipes=True)


# -- one case ----------------------------------------------------------------------------------


@dataclass
class CaseResult:
    server: str
    players: int
    window: float = 0.0
    cpu_window: float = 0.0
    cpu_user_window: float = 0.0
    cpu_baseline_rate: float = 0.0
    rss_baseline: int = 0
    rss_end: int = 0
    rss_peak: int = 0
    playing: int = 0
    complete: int = 0
    alive: int = 0
    reference_bytes: int = 0
    publisher_bytes: int = 0
    median_bytes: float = 0.0
    min_bytes: int = 0
    generator_cpu: float = 0.0
    generators: int = 0
    errors: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def cpu_net(self) -> float:
        return self.cpu_window - self.cpu_baseline_rate * self.window

    @property
    def cpu_per_player_minute(self) -> float:
        if not self.players or not self.window:
            return float("nan")
        return self.cpu_net / self.players / (self.window / 60)

    @property
    def rss_per_player(self) -> float:
        return (self.rss_end - self.rss_baseline) / self.players if self.players else math.nan

    @property
    def complete_share(self) -> float:
        return self.complete / self.players if self.players else math.nan


def mark_all(processes: Sequence[Process], timeout: float) -> list[dict[str, Any]]:
    """Ask every generator for its counters at (nearly) the same instant."""
    for process in processes:
        process.send("mark")
    return [process.receive(timeout) for process in processes]


def run_case(setup: Setup, server: str, players: int, tag: str) -> CaseResult:
    """Measure ``server`` with ``players`` players (see the module docstring)."""
    result = CaseResult(server=server, players=players)
    processes: list[Process] = []
    proxies: list[CountingProxy] = []
    try:
        _measure_case(setup, server, players, tag, result, processes, proxies)
    except BenchError as exc:
        result.failure = str(exc)
    finally:
        for process in reversed(processes):
            if process.popen.stdin is not None and process.popen.poll() is None:
                with contextlib.suppress(OSError):
                    process.send("quit")
        for process in reversed(processes):
            process.stop()
        for proxy in proxies:
            proxy.close()
    return result


def _measure_case(
    setup: Setup,
    server: str,
    players: int,
    tag: str,
    result: CaseResult,
    processes: list[Process],
    proxies: list[CountingProxy],
) -> None:
    options = setup.options
    server_process, port = start_server(setup, server, players, tag)
    processes.append(server_process)
    pid = server_process.pid
    proxy = CountingProxy(port)
    proxies.append(proxy)
    publisher = start_publisher(setup, proxy.port, tag)
    processes.append(publisher)
    reference = start_generator(setup, port, 1, f"reference-{tag}")
    processes.append(reference)
    ready = reference.receive(options.setup_timeout + 10)
    if ready["playing"] != 1:
        raise BenchError(f"the reference player could not play: {ready['errors']}")
    # Wait until media flows, then let the publisher settle.
    deadline = time.monotonic() + 20
    while mark_all([reference], 10)[0]["counts"][0] < 50_000:
        publisher.check_running()
        if time.monotonic() > deadline:
            raise BenchError(f"no media reached the reference player:\n{publisher.log_tail()}")
        time.sleep(0.2)
    time.sleep(options.warmup)

    # Baseline: publisher and reference player only.
    cpu0 = cpu_seconds(pid)
    t0 = time.monotonic()
    time.sleep(options.baseline_seconds)
    cpu1 = cpu_seconds(pid)
    t1 = time.monotonic()
    result.cpu_baseline_rate = (cpu1 - cpu0) / (t1 - t0)
    result.rss_baseline = rss_bytes(pid)

    # The players.
    per_process = options.per_process
    sizes = [per_process] * (players // per_process)
    if players % per_process:
        sizes.append(players % per_process)
    generators = [
        start_generator(setup, port, size, f"players-{tag}-{i}") for i, size in enumerate(sizes)
    ]
    processes += generators
    result.generators = len(generators)
    for generator in generators:
        ready = generator.receive(options.setup_timeout + 30)
        result.playing += ready["playing"]
        result.errors += ready["errors"]
    server_process.check_running()
    time.sleep(options.warmup)

    # The window.
    start_marks = mark_all([reference, *generators], 10)
    user_start, system_start = cpu_times(pid)
    published_start = proxy.sent
    t_start = time.monotonic()
    peak = 0
    while time.monotonic() - t_start < options.seconds:
        time.sleep(min(1.0, max(0.0, options.seconds - (time.monotonic() - t_start))))
        peak = max(peak, rss_bytes(pid))
    end_marks = mark_all([reference, *generators], 10)
    user_end, system_end = cpu_times(pid)
    published_end = proxy.sent
    result.window = time.monotonic() - t_start
    result.cpu_user_window = user_end - user_start
    result.cpu_window = result.cpu_user_window + system_end - system_start
    result.rss_end = rss_bytes(pid)
    result.rss_peak = max(peak, result.rss_end)
    result.publisher_bytes = published_end - published_start
    result.reference_bytes = end_marks[0]["counts"][0] - start_marks[0]["counts"][0]
    received: list[int] = []
    for before, after in zip(start_marks[1:], end_marks[1:], strict=True):
        received += [b - a for a, b in zip(before["counts"], after["counts"], strict=True)]
        result.alive += sum(after["alive"])
        result.generator_cpu += after["cpu"] - before["cpu"]
    threshold = COMPLETE * result.reference_bytes
    result.complete = sum(1 for count in received if count >= threshold)
    result.median_bytes = statistics.median(received) if received else 0.0
    result.min_bytes = min(received) if received else 0
    server_process.check_running()


@dataclass
class LatencyResult:
    server: str
    record: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None


def run_latency(setup: Setup, server: str, players: int, tag: str) -> LatencyResult:
    options = setup.options
    result = LatencyResult(server=server)
    processes: list[Process] = []
    try:
        server_process, port = start_server(setup, server, players, tag)
        processes.append(server_process)
        command = [sys.executable, str(LOADGEN), "latency", "--host", HOST, "--port", str(port)]
        command += ["--app", APP, "--key", "latency", "--players", str(players)]
        command += ["--seconds", str(options.latency_seconds), "--warmup", str(options.warmup)]
        command += ["--media", str(setup.media), "--setup-timeout", str(options.setup_timeout)]
        generator = Process(f"latency-{tag}", command, setup.directory, pipes=True)
        processes.append(generator)
        timeout = options.setup_timeout + options.warmup + options.latency_seconds + 30
        result.record = generator.receive(timeout)
        server_process.check_running()
    except BenchError as exc:
        result.failure = str(exc)
    finally:
        for process in reversed(processes):
            process.stop()
    return result


# -- the report ------------------------------------------------------------------------------


def fmt(value: float, spec: str) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (format(value, spec))
    )


def print_cases(results: Sequence[CaseResult]) -> None:
    header = (
        f"{'N':>5} {'server':<10} {'CPU%':>6} {'usr%':>5} {'base%':>6} {'CPU s/plr-min':>13} "
        f"{'RSS/plr KiB':>11} {'complete':>9} {'alive':>6} {'ref kbit/s':>10} "
        f"{'pub kbit/s':>10} {'med/ref':>7} {'min/ref':>7} {'gen CPU%':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.failure is not None:
            print(f"{r.players:>5} {r.server:<10} FAILED: {r.failure.splitlines()[0]}")
            continue
        window = r.window or math.nan
        ref = r.reference_bytes or math.nan
        print(
            f"{r.players:>5} {r.server:<10} "
            f"{100 * r.cpu_window / window:>6.1f} {100 * r.cpu_user_window / window:>5.1f} "
            f"{100 * r.cpu_baseline_rate:>6.1f} "
            f"{fmt(r.cpu_per_player_minute, '.5f'):>13} "
            f"{fmt(r.rss_per_player / 1024, '.1f'):>11} "
            f"{fmt(100 * r.complete_share, '.1f') + '%':>9} {r.alive:>6} "
            f"{r.reference_bytes * 8 / window / 1000:>10.0f} "
            f"{r.publisher_bytes * 8 / window / 1000:>10.0f} "
            f"{r.median_bytes / ref:>7.3f} {r.min_bytes / ref:>7.3f} "
            f"{100 * r.generator_cpu / window:>8.1f}"
        )
        if r.playing != r.players or r.errors:
            print(f"      ({r.playing} of {r.players} players started; errors: {r.errors[:3]})")


def ratio(ours: float, theirs: float) -> float:
    if not theirs or math.isnan(theirs) or math.isnan(ours):
        return math.nan
    return ours / theirs


def print_summary(
    results: Sequence[CaseResult], latencies: Sequence[LatencyResult], counts: Sequence[int]
) -> None:
    print()
    print("Ratios trio-rtmp / nginx-rtmp (targets: CPU <= 2x, complete >= 99 %, "
          "RSS < 100 KiB/player, latency p99 < 10 ms):")  # fmt: skip
    for n in counts:
        ours = [r for r in results if r.players == n and r.server == OURS and not r.failure]
        theirs = [r for r in results if r.players == n and r.server == NGINX and not r.failure]
        if not ours:
            print(f"  N={n}: no successful trio-rtmp measurement")
            continue
        cpu_ours = [r.cpu_per_player_minute for r in ours]
        line = f"  N={n}: CPU/player trio-rtmp {statistics.median(cpu_ours):.5f} s/min"
        if theirs:
            cpu_theirs = [r.cpu_per_player_minute for r in theirs]
            ratios = [ratio(a, b) for a, b in zip(cpu_ours, cpu_theirs, strict=False)]
            line += f", nginx-rtmp {statistics.median(cpu_theirs):.5f} s/min, "
            if statistics.median(cpu_theirs) > 0:
                value = statistics.median(cpu_ours) / statistics.median(cpu_theirs)
                line += (
                    f"ratio {value:.2f}x (per round: {', '.join(f'{x:.2f}' for x in ratios)})"
                    f" {'OK' if value <= 2 else 'MISSED'}"
                )
            else:
                # A short run with few players can leave nothing above the baseline.
                line += "ratio n/a (nginx-rtmp's cost did not rise above its baseline)"
        complete = min(r.complete_share for r in ours)
        rss = max(r.rss_per_player for r in ours) / 1024
        line += (
            f"; complete (worst) {100 * complete:.1f} % {'OK' if complete >= 0.99 else 'MISSED'}"
            f"; RSS/player (worst) {rss:.1f} KiB {'OK' if rss < 100 else 'MISSED'}"
        )
        if theirs:
            line += (
                f"; nginx complete {100 * min(r.complete_share for r in theirs):.1f} %,"
                f" RSS/player {max(r.rss_per_player for r in theirs) / 1024:.1f} KiB"
            )
        print(line)
        # "complete" is relative to the reference player; a server that falls behind its
        # publisher shortchanges the reference too, so compare with what was published.
        for r in ours + theirs:
            if r.publisher_bytes and r.reference_bytes < COMPLETE * r.publisher_bytes:
                print(
                    f"    note: {r.server} at N={n} delivered {r.reference_bytes} bytes to the "
                    f"reference player while the publisher sent {r.publisher_bytes} "
                    f"({100 * r.reference_bytes / r.publisher_bytes:.1f} %): it fell behind"
                )
    for latency in latencies:
        if latency.failure is not None:
            print(f"  latency {latency.server}: FAILED: {latency.failure.splitlines()[0]}")
            continue
        rec = latency.record
        p99 = rec["p99_ms"]
        verdict = "" if latency.server != OURS else (" OK" if p99 < 10 else " MISSED")
        expected = rec["sent"]
        print(
            f"  latency {latency.server} ({rec['playing']} players): "
            f"p50 {rec['p50_ms']:.2f} ms, p90 {rec['p90_ms']:.2f} ms, p99 {p99:.2f} ms, "
            f"max {rec['max_ms']:.2f} ms{verdict}; messages per player "
            f"{rec['per_player_min']}..{rec['per_player_max']} of ~{expected} sent; "
            f"generator CPU {100 * rec['generator_cpu_s'] / rec['seconds']:.0f} %"
        )


# -- main --------------------------------------------------------------------------------------


def parse_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give player counts like 200,1000")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--players", type=parse_counts, default=[200, 1000])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--latency-players", type=int, default=100)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every case")
    parser.add_argument("--servers", default=f"{OURS},{NGINX}")
    parser.add_argument("--per-process", type=int, default=500, help="players per generator")
    parser.add_argument("--tick", type=float, default=0.03, help="generator read interval")
    parser.add_argument("--setup-timeout", type=float, default=90.0)
    parser.add_argument("--media-seconds", type=int, default=20)
    parser.add_argument(
        "--ours-command",
        default="",
        help="run this instead of `python -m trio_rtmp serve` (to try a variant of the relay); "
        "{host}, {port} and {connections} are replaced",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=20, 5 s windows")
    options = parser.parse_args(argv)
    if options.quick:
        options.players = [20]
        options.seconds = 5.0
        options.baseline_seconds = 2.0
        options.warmup = 1.0
        options.latency_players = 20
        options.latency_seconds = 3.0
        options.media_seconds = 6
        options.setup_timeout = 30.0

    servers = [s.strip() for s in options.servers.split(",") if s.strip()]
    for binary in ("ffmpeg", "ffprobe"):
        if shutil.which(binary) is None:
            print(f"{binary} is needed (Debian package: ffmpeg)", file=sys.stderr)
            return 2
    if NGINX in servers and (shutil.which("nginx") is None or not NGINX_RTMP_MODULE.exists()):
        print(f"nginx with libnginx-mod-rtmp is not installed: measuring {OURS} alone, no ratios")
        servers = [s for s in servers if s != NGINX]

    cpus = sorted(os.sched_getaffinity(0))
    server_cpus: str | None = None
    if not options.no_pin and len(cpus) >= 2 and shutil.which("taskset"):
        server_cpus = str(cpus[0])
        os.sched_setaffinity(0, set(cpus[1:]))  # children (publisher, players) inherit it
    pinning = (
        f"servers pinned to CPU {server_cpus}, publisher/players/generators on CPU "
        f"{','.join(map(str, cpus[1:]))}"
        if server_cpus is not None
        else "no CPU pinning"
    )

    with contextlib.ExitStack() as stack:
        if options.keep:
            directory = Path(tempfile.mkdtemp(prefix="trio-rtmp-fanout-"))
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fanout-")))
        media = directory / "source.flv"
        print(f"generating {options.media_seconds} s of test media ...", flush=True)
        make_media(media, options.media_seconds)
        use_cli = OURS in servers and cli_available()
        setup = Setup(directory, media, server_cpus, use_cli, options)
        if options.ours_command:
            ours_how = repr(options.ours_command)
        elif use_cli:
            ours_how = "python -m trio_rtmp serve"
        else:
            ours_how = "Relay().serve() (CLI not ready)"
        print(
            f"media: {media_bitrate(media) / 1000:.0f} kbit/s; {OURS} runs as {ours_how}; "
            f"{pinning}; {os.cpu_count()} CPUs; window {options.seconds:g} s, "
            f"baseline {options.baseline_seconds:g} s, warm-up {options.warmup:g} s"
            + (f"; work directory {directory}" if options.keep else ""),
            flush=True,
        )
        results: list[CaseResult] = []
        for round_number in range(options.rounds):
            for n in options.players:
                for server in servers:
                    tag = f"r{round_number}-n{n}-{server}"
                    print(f"  measuring {server} with {n} players (round {round_number + 1})",
                          flush=True)  # fmt: skip
                    results.append(run_case(setup, server, n, tag))
        latencies: list[LatencyResult] = []
        for round_number in range(options.rounds):
            for server in servers:
                tag = f"r{round_number}-latency-{server}"
                print(f"  latency of {server} with {options.latency_players} players", flush=True)
                latencies.append(run_latency(setup, server, options.latency_players, tag))

        print()
        print(
            "CPU% = server CPU time / window (% of one core), usr% = its user part (the rest is "
            "kernel);\nbase% = the same with only the "
            "publisher and the reference player;\nCPU s/plr-min = (CPU - base x window) / N / "
            "minutes; RSS/plr = (VmRSS at the end - VmRSS at baseline) / N;\ncomplete = players "
            f"with >= {COMPLETE:.0%} of the reference player's bytes; alive = connections "
            "still open at the end;\nref/pub kbit/s = what the reference player received / what "
            "the publisher sent; med/ref, min/ref = players' bytes / reference bytes;\n"
            "gen CPU% = the load generators' CPU (all processes, % of one core)."
        )
        print()
        print_cases(results)
        print_summary(results, latencies, options.players)
    return 0


if __name__ == "__main__":
    sys.exit(main())
