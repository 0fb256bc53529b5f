"""The README's examples that no other test file owns, run as they are written.

(The client, server-handler and media examples are run by test_client_readme.py,
test_server.py and test_media_readme_examples.py, which also check that README.md
holds them verbatim.)
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import trio
from peers import WAIT, Peers, SampleCache, peer_binary

import trio_rtmp
from trio_rtmp.media.flvfile import FlvTag

README = Path(__file__).resolve().parent.parent / "README.md"


def section(heading: str) -> str:
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_names_both_setup_commands() -> None:
    text = section("## Set up")
    assert "pip install . && trio-rtmp serve" in text
    assert "pip install -e '.[test]' && pytest" in text


def test_use_the_core_from_any_event_loop() -> None:
    [code] = python_blocks(section("## Use the core from any event loop"))
    exec(compile(code, "<README core example>", "exec"), {"__name__": "readme"})


async def test_run_a_server_example(tmp_path: Path, monkeypatch: Any) -> None:
    [code] = python_blocks(section("## Run a server"))
    monkeypatch.chdir(tmp_path)  # it records into ./recordings
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, "<README relay example>", "exec"), namespace)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            relay = await nursery.start(namespace["main"], 0)
            assert relay.server is not None
            url = f"rtmp://127.0.0.1:{relay.server.port}/live/cam"
            async with trio_rtmp.open_client(url) as client:
                await client.publish()
                await client.send_metadata({"width": 64.0, "height": 64.0})
                await client.send_tag(
                    0,
                    FlvTag(
                        9, 0, b"\x17\x00\x00\x00\x00\x01\x42\x00\x1e\xff\xe1\x00\x00\x01\x00\x00"
                    ),
                )
                await client.send_tag(0, FlvTag(9, 0, b"\x17\x01\x00\x00\x00\x00\x00\x00\x01\x65"))
                # The server reads what the client sent a moment later.
                while relay.streams["live", "cam"].messages < 2:
                    await trio.sleep(0.01)
                stats = {(s.app, s.stream_key): s for s in relay.statistics()}
                assert stats["live", "cam"].live
                assert stats["live", "cam"].messages == 2
            # The publisher left: the recording is finished and closed.
            folder = tmp_path / "recordings" / "live"
            while not any(p.stat().st_size > 100 for p in folder.glob("cam-*.flv")):
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    [recording] = (tmp_path / "recordings" / "live").glob("cam-*.flv")
    assert recording.read_bytes()[:3] == b"FLV"


def test_every_command_line_option_is_documented() -> None:
    # Each command's section of "Command line" names every option argparse knows (the
    # options all commands share are in the section's introduction).
    import argparse

    from trio_rtmp.cli import build_parser

    text = README.read_text()
    shared = section("## Command line").split("\n### ")[0]
    assert "`-v` (`--verbose`)" in shared and "`-vv`" in shared
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert set(commands.choices) == {"serve", "play", "publish", "probe"}
    for name, parser in commands.choices.items():
        start = text.index(f"### `trio-rtmp {name}`")
        end = text.find("\n### ", start + 1)
        documented = text[start:end]
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help", "-v", "--verbose"):
                    assert f"`{option}" in documented or f"{option} " in documented, (
                        name,
                        option,
                    )


def test_every_public_name_is_in_the_api_section() -> None:
    """The "API at a glance" tables name everything the packages export, and nothing
    they do not."""
    import trio_rtmp.core
    import trio_rtmp.media
    import trio_rtmp.relay

    text = section("## API at a glance")
    tables = re.split(r"\n\*\*`(trio_rtmp[\w.]*)`\*\*", text)[1:]
    named = {
        module: set(re.findall(r"^\| (.*?) \| ", body, re.M))
        for module, body in zip(tables[::2], tables[1::2], strict=True)
    }
    for module in (trio_rtmp, trio_rtmp.relay, trio_rtmp.media, trio_rtmp.core):
        cells = " ".join(named[module.__name__])
        shown = set(re.findall(r"`(\w+)", cells))
        assert shown == set(module.__all__), (
            module.__name__,
            set(module.__all__) - shown,
            shown - set(module.__all__),
        )


async def test_pictures_into_a_decoder_example(
    peers: Peers, sample_media: SampleCache, tmp_path: Path
) -> None:
    """The decoder recipe, as written, on a stream FFmpeg publishes to the relay: it
    gets every picture, each exactly as FFmpeg decodes the source file itself."""
    from trio_rtmp.relay import Relay

    ffmpeg = peer_binary("ffmpeg")
    source = sample_media.get(seconds=2)
    [code] = python_blocks(section("### Into a decoder: pictures from a stream"))
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, "<README decoder example>", "exec"), namespace)
    expected = subprocess.run(
        # Each picture once (the rawvideo muxer would repeat one to keep 25 fps).
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-i",
            str(source),
            "-map",
            "0:v",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
        timeout=WAIT,
    ).stdout
    got: list[tuple[bytes, int, int]] = []
    relay = Relay()
    with trio.fail_after(3 * WAIT):
        async with trio.open_nursery() as nursery:
            server: trio_rtmp.RTMPServer = await nursery.start(
                functools.partial(relay.serve, 0, host="127.0.0.1")
            )
            url = f"rtmp://127.0.0.1:{server.port}/live/cam"
            done = trio.Event()

            async def play() -> None:
                await namespace["pictures"](url, lambda *picture: got.append(picture))
                done.set()

            nursery.start_soon(play)
            while not relay.streams.get(("live", "cam")):
                await trio.sleep(0.05)
            publisher = peers.ffmpeg_publish(url, source)
            assert await publisher.wait_async(timeout=WAIT + 5) == 0, publisher.log()
            await done.wait()
            server.stop()
    assert {(width, height) for _, width, height in got} == {(320, 240)}
    assert len(got) == len(expected) // (320 * 240 * 3) == 50
    assert b"".join(rgb for rgb, _, _ in got) == expected
