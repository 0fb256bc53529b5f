"""ConnectionPair: a ClientConnection and a ServerConnection joined in memory."""

from __future__ import annotations

from collections.abc import Callable

from trio_rtmp.core.connection import ClientConnection, ConnectionConfig, ServerConnection
from trio_rtmp.core.events import Event

CLIENT_RANDOM = bytes((i * 7 + 3) % 256 for i in range(1528))
SERVER_RANDOM = bytes((i * 13 + 5) % 256 for i in range(1528))

Cutter = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


class ConnectionPair:
    """Moves bytes between a client and a server core until both are quiet.

    ``cut`` splits each batch of bytes into the pieces delivered (to test arbitrary
    splits of the byte stream); events accumulate in ``client_events`` and
    ``server_events`` and :meth:`pump` returns the new ones.
    """

    def __init__(
        self,
        *,
        client_config: ConnectionConfig | None = None,
        server_config: ConnectionConfig | None = None,
        cut: Cutter = whole,
    ) -> None:
        self.client = ClientConnection(random=CLIENT_RANDOM, time=1, config=client_config)
        self.server = ServerConnection(random=SERVER_RANDOM, time=2, config=server_config)
        self.cut = cut
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
                new_server += self.server.receive_data(piece)
            for piece in self.cut(to_client) if to_client else []:
                new_client += self.client.receive_data(piece)
        else:
            raise AssertionError("the connections never went quiet")
        self.client_events += new_client
        self.server_events += new_server
        return new_client, new_server

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
