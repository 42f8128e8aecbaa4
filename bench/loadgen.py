"""A lean HTTP/1.1 load generator: pre-encoded POSTs over keep-alive connections.

The ingest benchmark compares Tocsin with Alertmanager on a 2-core machine, where every cycle
the client spends is a cycle the server under test does not get. httpx costs a few hundred
microseconds of Python per request; this sends bytes that were built before the clock started
and reads only the status line and Content-Length, so the generator's share stays small and,
above all, the same for both servers.

    result = asyncio.run(blast("127.0.0.1", 9093, "/api/v2/alerts", bodies, connections=8))
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class BlastResult:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)  # bodies of the first few non-2xx answers

    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)


def encode_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        lowered = name.strip().lower()
        if lowered == "content-length":
            length = int(value)
        elif lowered == "transfer-encoding":
            raise RuntimeError("chunked responses are not supported by the load generator")
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _connection(
    host: str, port: int, queue: list[bytes], result: BlastResult, tick: object
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request)
            status, body = await _read_response(reader)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1
            if not 200 <= status < 300 and len(result.errors) < 5:
                result.errors.append(f"{status} {body[:300]!r}")
            if callable(tick):
                tick()
    finally:
        writer.close()


async def blast(
    host: str,
    port: int,
    path: str,
    bodies: Sequence[bytes],
    *,
    connections: int = 8,
    headers: dict[str, str] | None = None,
    tick: object = None,
) -> BlastResult:
    """POST every body once, `connections` at a time, and time the whole run."""
    queue = [encode_post(host, port, path, body, headers or {}) for body in reversed(bodies)]
    result = BlastResult()
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(host, port, queue, result, tick) for _ in range(connections))
    )
    result.wall_s = time.perf_counter() - started
    return result
