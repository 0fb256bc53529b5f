"""Benchmark the demuxer against plain FLV tag reading.

    python bench/demux.py [--cache FILE.flv] [--duration 60] [--repeat 5]

Generates (with FFmpeg, once: pass ``--cache`` to keep the file) a 60 s, 4 Mbit/s
H.264 + AAC FLV file, then times, on the file held in memory:

* **read**: :class:`FlvReader` over the whole file in 64 KiB pieces, collecting tags;
* **read + demux**: the same, and every tag through :class:`Demuxer` into frames.

It prints frames/s and MB/s for both and the demuxer's overhead over reading alone
(the media layer's budget is 50 %), and exits non-zero when the budget is exceeded.
Each figure is the best of ``--repeat`` interleaved runs.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from trio_rtmp.media import Demuxer, FlvReader, FlvTag

CHUNK = 64 * 1024
BUDGET = 0.50


def generate(path: Path, duration: int) -> None:
    """A 4 Mbit/s 1280x720 30 fps H.264 (B-frames) + 128 kbit/s AAC FLV file."""
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is needed to generate the benchmark file")
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(duration),
        # Noise keeps the encoder at the target rate (the bare test pattern is too easy).
        "-vf", "noise=alls=12:allf=t",
        "-c:v", "libx264", "-preset", "superfast", "-bf", "2", "-g", "60",
        "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M",
        "-c:a", "aac", "-b:a", "128k",
        str(path),
    ]  # fmt: skip
    print("generating", path, "...", flush=True)
    subprocess.run(command, check=True)


def read_tags(data: bytes) -> list[FlvTag]:
    reader = FlvReader()
    tags: list[FlvTag] = []
    for start in range(0, len(data), CHUNK):
        for event in reader.receive_data(data[start : start + CHUNK]):
            if type(event) is FlvTag:
                tags.append(event)
    reader.receive_data(b"")
    return tags


def read_only(data: bytes) -> int:
    """Tags read and dropped, as the demuxing loop drops its frames: a fair baseline."""
    reader = FlvReader()
    count = 0
    for start in range(0, len(data), CHUNK):
        for event in reader.receive_data(data[start : start + CHUNK]):
            if type(event) is FlvTag:
                count += 1
    reader.receive_data(b"")
    return count


def read_and_demux(data: bytes) -> int:
    """Tags read and demuxed, dispatched by type as an RTMP client dispatches messages."""
    reader = FlvReader()
    demuxer = Demuxer()
    video, audio = demuxer.video, demuxer.audio
    frames = 0
    for start in range(0, len(data), CHUNK):
        for event in reader.receive_data(data[start : start + CHUNK]):
            if type(event) is FlvTag:
                kind = event.tag_type
                if kind == 9:
                    frames += len(video(event.timestamp, event.data))
                elif kind == 8:
                    frames += len(audio(event.timestamp, event.data))
                else:
                    frames += len(demuxer.tag(kind, event.timestamp, event.data))
    reader.receive_data(b"")
    return frames


def best_times(repeat: int, *functions: Callable[[], object]) -> list[float]:
    """The best time of each function over ``repeat`` rounds, interleaved.

    Interleaving keeps a change in machine load from favouring one of them.
    """
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for index, function in enumerate(functions):
            gc.collect()
            start = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="FLV file to use (generated if missing)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of media")
    parser.add_argument("--repeat", type=int, default=15, help="runs per measurement")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = options.cache or Path(folder) / "bench.flv"
        if not path.exists():
            generate(path, options.duration)
        data = path.read_bytes()

    tags = read_tags(data)
    media_tags = [tag for tag in tags if tag.tag_type in (8, 9)]
    duration = (max(t.timestamp for t in media_tags) - min(t.timestamp for t in media_tags)) / 1000
    frames = read_and_demux(data)
    megabytes = len(data) / 1e6
    print(
        f"file: {megabytes:.1f} MB, {len(tags)} tags, {frames} frames, {duration:.1f} s, "
        f"{len(data) * 8 / duration / 1e6:.2f} Mbit/s"
    )

    read_time, demux_time = best_times(
        options.repeat, lambda: read_only(data), lambda: read_and_demux(data)
    )
    overhead = demux_time / read_time - 1
    print(
        f"read:         {read_time * 1e3:8.1f} ms  {len(tags) / read_time:10.0f} tags/s  "
        f"{megabytes / read_time:8.0f} MB/s"
    )
    print(
        f"read + demux: {demux_time * 1e3:8.1f} ms  {frames / demux_time:10.0f} frames/s"
        f"  {megabytes / demux_time:8.0f} MB/s"
    )
    print(f"demux overhead over reading: {overhead:.0%} (budget {BUDGET:.0%})")
    print(f"realtime factor: {duration / demux_time:.0f}x")
    return 0 if overhead <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
