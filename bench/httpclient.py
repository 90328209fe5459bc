"""Minimal asyncio HTTP/1.1 keep-alive JSON client (no third-party packages).

One `HttpConnection` is one TCP connection that is reused across requests
(keep-alive) and re-opened transparently when the server closes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson


class HttpError(Exception):
    """Transport-level failure (connection refused, reset, malformed reply)."""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        return orjson.loads(self.body)

    def short(self) -> str:
        return f"HTTP {self.status}: {self.body[:300]!r}"


class HttpConnection:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ConnectionError):
                pass

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        retries: int = 1,
    ) -> Response:
        """Send one request; retry once on a stale keep-alive connection."""
        payload = b"" if body is None else orjson.dumps(body)
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Accept: application/json",
            "Connection: keep-alive",
            f"Content-Length: {len(payload)}",
        ]
        if body is not None:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Bearer {token}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin1") + payload
        async with self._lock:
            last_exc: Exception | None = None
            for _ in range(retries + 1):
                try:
                    if self._writer is None:
                        await self._connect()
                    return await asyncio.wait_for(self._roundtrip(raw), self.timeout)
                except (OSError, ConnectionError, asyncio.IncompleteReadError, HttpError) as exc:
                    last_exc = exc
                    await self.close()
                except TimeoutError as exc:
                    await self.close()
                    raise HttpError(f"timeout after {self.timeout}s: {method} {path}") from exc
            raise HttpError(f"{method} {path}: {last_exc!r}")

    async def _roundtrip(self, raw: bytes) -> Response:
        assert self._reader is not None and self._writer is not None
        self._writer.write(raw)
        await self._writer.drain()
        reader = self._reader
        status_line = await reader.readline()
        if not status_line:
            raise HttpError("connection closed before status line")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        headers: dict[bytes, bytes] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._read_chunked(reader)
        elif b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        else:
            body = await reader.read()  # until close
            await self.close()
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return Response(status, body)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
