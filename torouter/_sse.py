"""An incremental, bounded Server-Sent Events decoder working on bytes.

Feed it the body as it arrives, split anywhere (even inside a CRLF); it returns complete events
as ``(event_name, data)`` byte pairs.  Lines may end in LF, CRLF or CR.  Comment lines and the
``id``/``retry`` fields are ignored.  A byte-order mark at the very start of the stream is
dropped, as the SSE standard says.  A line or event larger than the limits raises
:class:`~torouter.StreamDecodeError` instead of growing without bound.  Data stays ``bytes`` so
that JSON goes straight into pydantic-core without a decode/encode round trip.
"""

from __future__ import annotations

from typing import ClassVar

from ._errors import StreamDecodeError

__all__ = ["MAX_EVENT_BYTES", "MAX_LINE_BYTES", "SSEDecoder"]

MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_EVENT_BYTES = 16 * 1024 * 1024

Event = tuple[bytes | None, bytes]

_BOM = b"\xef\xbb\xbf"  # U+FEFF in UTF-8


class SSEDecoder:
    """Incremental SSE decoder. ``feed(chunk)`` -> complete events; ``pending`` tells leftovers."""

    __slots__ = ("_buf", "_data", "_event", "_size", "_start", "max_event", "max_line")

    _shortcut: ClassVar[bool] = True

    def __init__(self, *, max_line: int = MAX_LINE_BYTES, max_event: int = MAX_EVENT_BYTES) -> None:
        self.max_line = max_line
        self.max_event = max_event
        self._buf = bytearray()
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._size = 0
        # The stream's first bytes while it is not yet known whether they begin with a BOM.
        self._start: bytes | None = b""

    @property
    def pending(self) -> bool:
        """Whether bytes of an unfinished line or event are buffered (a truncated stream)."""
        return bool(self._buf.strip() or self._data)

    def feed(self, chunk: bytes) -> list[Event]:
        if self._start is not None:
            head = self._start + chunk
            if len(head) < 3 and _BOM.startswith(head):
                self._start = head  # (a BOM split across reads)
                return []
            self._start = None
            chunk = head[3:] if head.startswith(_BOM) else head
        held = self._buf
        if self._shortcut and not held and not self._data and self._event is None:
            # The common case, cheaply: ``chunk`` is one whole one-line ``data:`` event (servers
            # flush event by event).  Anything else goes to the general parser below.
            end = len(chunk) - 2
            if (chunk.find(b"\n") == end and end >= 5 and chunk[end + 1] == 10
                    and chunk.startswith(b"data:") and 13 not in chunk and end <= self.max_line):
                value = chunk[6:end] if chunk[5] == 32 else chunk[5:end]
                if len(value) < self.max_event:  # (+ 1 for the newline that ends it)
                    return [(None, value)]
        if held and held[-1] != 13 and b"\n" not in chunk and b"\r" not in chunk:
            # Still inside one line: append without rescanning the buffer (linear, not quadratic).
            if len(held) + len(chunk) > self.max_line:
                self._buf = bytearray()
                raise StreamDecodeError(
                    f"a server-sent event line exceeded {self.max_line} bytes without ending"
                )
            held += chunk
            return []
        buf = bytes(held) + chunk if held else chunk
        if b"\r" in buf:
            # A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
            tail = buf.endswith(b"\r")
            if tail:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if tail:
                buf += b"\r"
        lines = buf.split(b"\n")
        rest = lines.pop()
        # (a held-back CR is a line end, not part of the line)
        if len(rest) > self.max_line + rest.endswith(b"\r"):
            self._buf = bytearray()
            raise StreamDecodeError(
                f"a server-sent event line exceeded {self.max_line} bytes without ending"
            )
        self._buf = bytearray(rest)
        events: list[Event] = []
        for line in lines:
            if len(line) > self.max_line:  # the same limit however the network split the line
                raise StreamDecodeError(f"a server-sent event line exceeded {self.max_line} bytes")
            if not line:
                if self._data:
                    events.append((self._event, b"\n".join(self._data)))
                    self._data = []
                    self._size = 0
                self._event = None
                continue
            if line[0] == 58:  # b":" comment / keep-alive
                continue
            field, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._size += len(value) + 1  # + the joining newline: empty lines count too
                if self._size > self.max_event:
                    self._data = []
                    self._size = 0
                    raise StreamDecodeError(
                        f"a server-sent event exceeded {self.max_event} bytes"
                    )
                self._data.append(value)
            elif field == b"event":
                self._event = value
        return events
