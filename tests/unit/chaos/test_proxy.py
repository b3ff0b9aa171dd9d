"""The latency proxy forwards bytes both ways and delays them only while asked to."""

from __future__ import annotations

import asyncio
import time

from services.chaos.proxy import LatencyProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _round_trip(port: int) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"hello")
    await writer.drain()
    answer = await reader.readexactly(5)
    elapsed = time.monotonic() - started
    writer.close()
    return answer, elapsed


async def test_bytes_pass_and_latency_is_added_on_demand() -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = LatencyProxy("127.0.0.1", server.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        answer, fast = await _round_trip(proxy.port)
        assert answer == b"hello"
        proxy.delay_s = 0.2
        answer, slow = await _round_trip(proxy.port)
        assert answer == b"hello"
        assert slow >= 0.4  # one delay each way
        assert fast < slow
    finally:
        await proxy.stop()
        server.close()
