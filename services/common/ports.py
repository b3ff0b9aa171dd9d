"""A service's port checked before it starts: one sentence naming the setting that moves it,
not a traceback from deep inside the server."""

from __future__ import annotations

import errno
import socket
import sys


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is already in use by another process"
            if exc.errno == errno.EADDRNOTAVAIL:
                return "is not an address of this machine"
            if exc.errno == errno.EACCES:
                return "needs privileges to listen on"
            return f"cannot be listened on ({exc.strerror})"
    return None


def require_free(service: str, host: str, port: int, setting: str) -> None:
    """Exit (status 1) with one sentence when ``service`` cannot listen on ``host:port``."""
    if port == 0:
        return
    problem = port_problem(host, port)
    if problem is not None:
        sys.stderr.write(
            f"error: {service} cannot start: {host}:{port} {problem}; "
            f"stop that process or move {service} with {setting}=<another port>.\n"
        )
        raise SystemExit(1)
