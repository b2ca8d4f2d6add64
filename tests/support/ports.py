"""A TCP port nothing listens on."""

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
