"""Shared pytest fixtures.

Real-peer fixtures (see ``tests/peers.py`` for the helpers behind them):

- ``peers``: a :class:`peers.Peers` for the test; starts nginx-rtmp, FFmpeg, rtmpdump
  and stops every process it started, by PID, at teardown.
- ``nginx_rtmp``: a default nginx-rtmp (``application live { live on; }``) on a free port.
- ``http_hook_server``: a :class:`peers.HookServer` for nginx-rtmp's on_* notifications.
- ``recording_proxy``: a factory ``upstream_port -> RecordingProxy``, closed at teardown.
- ``tls_certificate`` (session): a test CA and a server certificate for 127.0.0.1.
- ``sample_media`` (session): a :class:`peers.SampleCache` of generated FLV samples;
  ``sample_flv`` (session): the common one (4 s, 320x240, 25 fps, H.264 with B-frames
  and a 1 s GOP, AAC mono 44.1 kHz).

A test that uses any of these is marked ``interop`` automatically.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from peers import (
    HookServer,
    NginxRtmp,
    Peers,
    RecordingProxy,
    SampleCache,
    TLSCertificate,
    make_tls_certificate,
)

# No Hypothesis deadline: a deadline is a timed unit test, where one slow example on a
# busy or freshly set up machine fails the suite although every result is right.
# Speed is measured in bench/.
settings.register_profile("trio-rtmp", deadline=None)
settings.load_profile("trio-rtmp")

#: Fixtures that run or need real peers; tests using them get the ``interop`` marker.
PEER_FIXTURES = frozenset(
    {
        "peers",
        "nginx_rtmp",
        "http_hook_server",
        "recording_proxy",
        "tls_certificate",
        "sample_media",
        "sample_flv",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PEER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.interop)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach every peer's log to the report of a failed test that used ``peers``."""
    report = yield
    manager = getattr(item, "funcargs", {}).get("peers")
    if report.failed and isinstance(manager, Peers) and manager.processes:
        report.sections.append(("peer logs", manager.logs()))
    return report


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> TLSCertificate:
    """A CA and a server certificate for 127.0.0.1/localhost, made once per session.

    context = tls_certificate.client_context()
    """
    return make_tls_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def peers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Peers]:
    """Starts peer processes for this test; stops them all (by PID) at teardown.

    nginx = peers.nginx_rtmp(); peers.ffmpeg_publish(nginx.url("live", "a"), sample_flv)
    """
    manager = Peers(
        tmp_path / "peers",
        certificate=lambda: request.getfixturevalue("tls_certificate"),
    )
    try:
        yield manager
    finally:
        manager.stop_all()


@pytest.fixture
def nginx_rtmp(peers: Peers) -> NginxRtmp:
    """nginx-rtmp with ``application live { live on; }`` on a free port of 127.0.0.1.

    url = nginx_rtmp.url("live", "key")
    """
    return peers.nginx_rtmp()


@pytest.fixture
def http_hook_server() -> Iterator[HookServer]:
    """An HTTP server answering nginx-rtmp's on_* notifications (403 for ``.refused`` names).

    http_hook_server.refused.add("bad"); peers.nginx_rtmp(on_publish=http_hook_server.url())
    """
    server = HookServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def recording_proxy() -> Iterator[Callable[[int], RecordingProxy]]:
    """A factory of :class:`RecordingProxy` (``recording_proxy(upstream_port)``), closed at teardown.

    proxy = recording_proxy(nginx_rtmp.port); url = proxy.url("live", "a")
    """
    proxies: list[RecordingProxy] = []

    def make(upstream_port: int) -> RecordingProxy:
        proxy = RecordingProxy(upstream_port)
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.close()


@pytest.fixture(scope="session")
def sample_media(tmp_path_factory: pytest.TempPathFactory) -> SampleCache:
    """Generated FLV samples, each made once per session: ``sample_media.get(seconds=2, audio=False)``."""
    return SampleCache(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def sample_flv(sample_media: SampleCache) -> Path:
    """The common sample: 4 s of 320x240 25 fps H.264 (B-frames, 1 s GOP) + AAC, as FLV."""
    return sample_media.get()
