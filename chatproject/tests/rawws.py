"""A WebSocket client on a plain socket, for tests that need a client that stops reading."""

import base64
import json
import os
import re
import socket
import struct


class RawWebSocket:
    """Handshake, send text frames, and read frames only when the test says so."""

    def __init__(self, port: int, token: str, rcvbuf: int = 4096, mss: int | None = None) -> None:
        self.sock = socket.socket()
        # A small receive buffer: the kernel absorbs little, the server's buffer fills.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss is not None:  # segments as on a real network path, not loopback's 64 KiB
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET /ws/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not re.match(rb"HTTP/1.1 101", head):
            raise RuntimeError(head.decode(errors="replace"))

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        return data

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame (server frames are unmasked)."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        return first & 0x0F, self._take(length)

    def next_json(self) -> dict:
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                raise ConnectionError(f"closed with {struct.unpack('!H', payload[:2])[0]}")

    def read_until_close(self, timeout: float) -> tuple[list[dict], int | None]:
        """Every text frame up to the close frame, and the close code (None: no close frame)."""
        self.sock.settimeout(timeout)
        frames = []
        try:
            while True:
                opcode, payload = self.read_frame()
                if opcode == 0x1:
                    frames.append(json.loads(payload))
                elif opcode == 0x8:
                    return frames, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        except (ConnectionError, OSError):
            return frames, None

    def close(self) -> None:
        self.sock.close()
