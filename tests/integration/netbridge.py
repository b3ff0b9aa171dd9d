"""Carry TCP between a network namespace and the host through a unix socket.

``python -m tests.integration.netbridge unix-to-tcp SOCKET HOST PORT`` (on the host) accepts on
a unix socket and connects each client to HOST:PORT; ``tcp-to-unix HOST PORT SOCKET`` (inside
the namespace) listens on HOST:PORT and connects each client to the unix socket. A process in
the namespace then reaches a host service at the same address it has on the host, and killing
the inner bridge makes that address refuse connections, as a stopped server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _join(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    await asyncio.gather(_pipe(client[0], server[1]), _pipe(server[0], client[1]))


async def main(mode: str, *args: str) -> None:
    if mode == "unix-to-tcp":
        path, host, port = args

        async def to_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                upstream = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.close()
                return
            await _join((reader, writer), upstream)

        server = await asyncio.start_unix_server(to_tcp, path)
    else:
        host, port, path = args

        async def to_unix(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                upstream = await asyncio.open_unix_connection(path)
            except OSError:
                writer.close()
                return
            await _join((reader, writer), upstream)

        server = await asyncio.start_server(to_unix, host, int(port), reuse_address=True)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
