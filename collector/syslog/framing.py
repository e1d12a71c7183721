"""Cutting a syslog TCP stream into messages (RFC 6587). Pure: no I/O.

Each message decides its own framing, as RFC 6587 lets a receiver do: one that starts with a digit is
octet-counted (``LEN SP MSG``, RFC 5425's framing, which syslog-ng's ``syslog()`` driver and rsyslog's
``TCP_Framing="octet-counted"`` use); anything else runs to the next LF (non-transparent framing, the
default of rsyslog's omfwd and of syslog-ng's ``network()``), with a CR before it dropped.

A message longer than ``max_message_bytes`` is not kept in memory: its bytes are discarded as they
arrive (up to the announced length, or to the next LF) and one :class:`FrameError` takes its place, so
the stream stays in step and the messages after it are read.
"""

from __future__ import annotations

from dataclasses import dataclass

_MAX_COUNT_DIGITS = 10
_BAD_COUNT = "an octet-counted message must start with its length (at most 10 digits) and a space"


@dataclass(frozen=True, slots=True)
class FrameError:
    reason: str


class Deframer:
    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._skip = 0  # bytes still to discard of an oversized octet-counted message
        self._skip_line = False  # discarding an oversized LF-framed message up to its LF

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """The messages completed by ``data``, in order."""
        self._buffer += data
        out: list[bytes | FrameError] = []
        buffer = self._buffer
        # Walked by position, the consumed bytes dropped once at the end: a deletion and a Python call per
        # message were most of the framing's cost.
        position, end = 0, len(buffer)
        while position < end:
            if self._skip:
                dropped = min(self._skip, end - position)
                position += dropped
                self._skip -= dropped
                continue
            if self._skip_line:
                newline = buffer.find(b"\n", position)
                if newline < 0:
                    position = end
                    break
                position = newline + 1
                self._skip_line = False
                continue
            first = buffer[position]
            if first in b"\n\r\x00":  # stray terminators between messages
                position += 1
                continue
            if 0x30 <= first <= 0x39:
                after = self._octet_counted(buffer, position, out)
            else:
                after = self._line(buffer, position, out)
            if after < 0:
                break
            position = after
        del buffer[:position]
        return out

    def close(self) -> list[bytes | FrameError]:
        """What is left when the sender closes: a last LF-framed message without its LF is still one."""
        buffer, self._buffer = self._buffer, bytearray()
        if not buffer or self._skip or self._skip_line:
            return []
        if 0x30 <= buffer[0] <= 0x39:
            return [FrameError(f"the connection closed inside an octet-counted message ({len(buffer)} bytes kept)")]
        return [bytes(buffer.rstrip(b"\r"))]

    # Both read one message at ``position``: they return where the next begins, or -1 if it is incomplete.

    def _octet_counted(self, buffer: bytearray, position: int, out: list[bytes | FrameError]) -> int:
        space = buffer.find(b" ", position, position + _MAX_COUNT_DIGITS + 1)
        if space < 0:
            if len(buffer) - position <= _MAX_COUNT_DIGITS:
                return -1  # the length may still be arriving
            out.append(FrameError(_BAD_COUNT))
            self._skip_line = True
            return position
        digits = bytes(buffer[position:space])
        if not digits.isdigit():
            out.append(FrameError(f"invalid octet count {digits[:16]!r}"))
            self._skip_line = True
            return position
        length = int(digits)
        if length > self.max_message_bytes:
            out.append(FrameError(f"message of {length} bytes is longer than the limit of {self.max_message_bytes}"))
            self._skip = length
            return space + 1
        after = space + 1 + length
        if len(buffer) < after:
            return -1
        out.append(bytes(buffer[space + 1:after]))
        return after

    def _line(self, buffer: bytearray, position: int, out: list[bytes | FrameError]) -> int:
        end = buffer.find(b"\n", position)
        if end < 0:
            if len(buffer) - position > self.max_message_bytes:
                out.append(FrameError(f"message is longer than the limit of {self.max_message_bytes} bytes"))
                self._skip_line = True
                return len(buffer)
            return -1
        line = bytes(buffer[position:end]).rstrip(b"\r")
        if len(line) > self.max_message_bytes:
            out.append(FrameError(f"message is longer than the limit of {self.max_message_bytes} bytes"))
        else:
            out.append(line)
        return end + 1
