"""The client examples of the README, run as they are written, against nginx-rtmp.

Each string below is a code block of the README's client section, verbatim.  They are
executed here (``__name__`` is not ``"__main__"``, so their ``trio.run`` lines do not
run) and the functions they define are called with the URLs of a real nginx-rtmp.
Once the section is in README.md, every block must appear there unchanged, so the
documentation cannot drift from the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from peers import WAIT, NginxRtmp, Peers, SampleCache, free_port, probe_packets

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
