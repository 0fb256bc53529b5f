"""ConnectionPair: a ClientConnection and a ServerConnection joined in memory."""

from __future__ import annotations

from collections.abc import Callable

from trio_rtmp.core.chunks import ChunkWriter
from trio_rtmp.core.connection import ClientConnection, ConnectionConfig, ServerConnection
from trio_rtmp.core.events import Event
from trio_rtmp.core.messages import Audio, Data, encode_message

CLIENT_RANDOM = bytes((i * 7 + 3) % 256 for i in range(1528))
SERVER_RANDOM = bytes((i * 13 + 5) % 256 for i in range(1528))

Cutter = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


class ConnectionPair:
    """Moves bytes between a client and a server core until both are quiet.

    ``cut`` splits each batch of bytes into the pieces delivered (to test arbitrary
    splits of the byte stream); events accumulate in ``client_events`` and
    ``server_events`` and :meth:`pump` returns the new ones.  With ``stepwise`` each
    piece is delivered with ``feed_data`` and ``next_events`` (as the Trio adapters
    do) instead of ``receive_data``.
    """

    def __init__(
        self,
        *,
        client_config: ConnectionConfig | None = None,
        server_config: ConnectionConfig | None = None,
        cut: Cutter = whole,
        stepwise: bool = False,
    ) -> None:
        self.client = ClientConnection(random=CLIENT_RANDOM, time=1, config=client_config)
        self.server = ServerConnection(random=SERVER_RANDOM, time=2, config=server_config)
        self.cut = cut
        self.stepwise = stepwise
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []
        self.client_bytes = 0
        self.server_bytes = 0

    def pump(self) -> tuple[list[Event], list[Event]]:
        """Deliver everything pending both ways; returns (new client events, new server events)."""
        new_client: list[Event] = []
        new_server: list[Event] = []
        for _ in range(1000):
            to_server = self.client.data_to_send()
            to_client = self.server.data_to_send()
            if not to_server and not to_client:
                break
            self.client_bytes += len(to_server)
            self.server_bytes += len(to_client)
            # Empty bytes would mean "closed": deliver only real pieces.
            for piece in self.cut(to_server) if to_server else []:
                new_server += self.deliver(self.server, piece)
            for piece in self.cut(to_client) if to_client else []:
                new_client += self.deliver(self.client, piece)
        else:
            raise AssertionError("the connections never went quiet")
        self.client_events += new_client
        self.server_events += new_server
        return new_client, new_server

    def deliver(self, conn: ClientConnection | ServerConnection, data: bytes) -> list[Event]:
        """Give ``data`` to ``conn``; its events."""
        if not self.stepwise:
            return conn.receive_data(data)
        conn.feed_data(data)
        events = []
        while conn.has_pending_input:
            events += conn.next_events()
        return events

    def connect(self, app: str = "live") -> None:
        """Connect and accept; asserts it worked."""
        from trio_rtmp.core.events import Connected, ConnectRequest

        self.client.connect(app=app, tc_url=f"rtmp://127.0.0.1/{app}")
        _, server_events = self.pump()
        assert any(isinstance(e, ConnectRequest) for e in server_events), server_events
        self.server.accept_connect()
        client_events, _ = self.pump()
        assert any(isinstance(e, Connected) for e in client_events), client_events

    def create_stream(self) -> int:
        from trio_rtmp.core.events import StreamCreated

        self.client.create_stream()
        client_events, server_events = self.pump()
        created = [e for e in client_events if isinstance(e, StreamCreated)]
        assert len(created) == 1, client_events
        assert any(
            isinstance(e, StreamCreated) and e.stream_id == created[0].stream_id
            for e in server_events
        )
        return created[0].stream_id


def amf_burst(stream_id: int, count: int, size: int) -> tuple[bytes, bytes]:
    """``count`` data messages of about ``size`` bytes, on ``count`` chunk streams.

    Returns the bytes of every message but its last chunk, then the last chunks: the
    second completes all the messages at once (with an audio message after the third).
    The chunk streams are 10 and up, all with one-byte basic headers.
    """
    assert count <= 54
    heads, tails = [], []
    for i in range(count):
        data = Data(values=("onTextData", {"text": "x" * size}), message_stream_id=stream_id)
        writer = ChunkWriter(chunk_size=ConnectionConfig().chunk_size)
        writer.write(*encode_message(data, chunk_stream_id=10 + i))
        chunks = writer.data_to_send()
        last = 1 + (len(encode_message(data).payload) - 1) % writer.chunk_size
        heads.append(chunks[: -last - 1])
        tails.append(chunks[-last - 1 :])
        if i == 2:
            writer = ChunkWriter(chunk_size=ConnectionConfig().chunk_size)
            writer.write(*encode_message(Audio(payload=b"\xaf\x01", message_stream_id=stream_id)))
            tails.append(writer.data_to_send())
    return b"".join(heads), b"".join(tails)
