"""A bounded, crash-safe file of batches waiting for the collector.

The file is NDJSON. The first line is a fixed-width header holding the byte
offset up to which batches have been acknowledged; every other line is one
batch (the JSON array that is POSTed). Durability comes from three rules:

* a batch counts as spooled only after its line is written and fsynced;
* the header moves past a batch only after the collector answered 202, by
  rewriting those few bytes in place (well inside one disk sector);
* dropping the acknowledged prefix rewrites the file through a temporary
  file and an atomic rename.

A crash can therefore leave only a torn last line, cut off on the next open
(that batch was never reported as spooled), or an acknowledged batch whose
header update was lost, which is sent once more; that is harmless because
the warehouse deduplicates on event_id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from ._events import decode_batch, encode_batch

try:
    import fcntl
except ImportError:  # Windows has no flock; one process per spool_path is then up to the deployment.
    fcntl = None  # type: ignore[assignment]

_HEADER = '{{"lookout_spool":1,"acked":"{:020d}"}}\n'
_HEADER_LEN = len(_HEADER.format(0))
_BLOCK = 1 << 16


class SpoolError(Exception):
    """The spool file cannot be used."""


class Spool:
    """Batches in the order they were spooled. Not thread-safe: the worker thread owns it."""

    def __init__(self, path: Path, max_bytes: int, report: Callable[[Exception], None]) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._report = report
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(path.with_name(path.name + ".lock"))
        try:
            if not path.exists() or path.stat().st_size == 0:
                _replace(path, None, 0, 0)
            self._file = _open(path)
            self._acked, self._end = self._recover()
        except BaseException:
            self._lock.close()
            raise
        self._head_len = 0

    @property
    def pending(self) -> bool:
        return self._acked < self._end

    def append(self, events: Sequence[str]) -> bool:
        """Durably add one batch at the end; False when it does not fit under max_bytes."""
        line = (encode_batch(events) + "\n").encode()
        if self._end + len(line) > self._max_bytes and self._acked > _HEADER_LEN:
            self._rewrite()
        if self._end + len(line) > self._max_bytes:
            return False
        self._write_at(self._end, line)
        self._end += len(line)
        return True

    def peek(self) -> list[str] | None:
        """The oldest batch not yet acknowledged, or None when there is none."""
        while self.pending:
            self._file.seek(self._acked)
            line = self._file.readline()
            if not line:
                # Cut short from outside: what was believed pending is gone, so nothing is.
                self._end = self._acked
                return None
            self._head_len = len(line)
            try:
                return decode_batch(line)
            except ValueError as exc:
                # Only damage from outside gets here (torn tails are cut on open); skipping the line keeps
                # every later batch from being stuck behind it.
                self._report(SpoolError(f"skipped an unreadable batch in {self._path}: {exc}"))
                self.advance()
        return None

    def advance(self) -> None:
        """Mark the batch returned by peek() as acknowledged."""
        self._acked += self._head_len
        self._head_len = 0
        if self._acked >= self._end:
            self._rewrite()  # drained: start again from an empty file instead of growing forever
        else:
            self._write_at(0, _HEADER.format(self._acked).encode())

    def close(self) -> None:
        self._file.close()
        self._lock.close()

    def _recover(self) -> tuple[int, int]:
        self._file.seek(0)
        acked = _parse_header(self._file.read(_HEADER_LEN), self._path)
        size = self._file.seek(0, os.SEEK_END)
        end = _last_line_end(self._file, size)
        if end < size:
            # A crash tore the last append. That batch was never reported as spooled, so cutting it off
            # breaks no promise, and the next append starts on a clean line.
            self._file.truncate(end)
            self._file.flush()
            os.fsync(self._file.fileno())
        return min(acked, end), end

    def _rewrite(self) -> None:
        pending = self._end - self._acked
        _replace(self._path, self._file, self._acked, pending)
        self._file.close()
        self._file = _open(self._path)
        self._acked, self._end = _HEADER_LEN, _HEADER_LEN + pending

    def _write_at(self, offset: int, data: bytes) -> None:
        self._file.seek(offset)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())


def _open(path: Path, *, truncate: bool = False) -> BinaryIO:
    # 0o600: spooled events can carry user ids, IP addresses and error details.
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | (os.O_TRUNC if truncate else 0)
    return os.fdopen(os.open(path, flags, 0o600), "r+b")


def _lock(path: Path) -> BinaryIO:
    handle = _open(path)
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise SpoolError(f"{path} is held by another client; give every process its own spool_path") from None
    return handle


def _replace(path: Path, source: BinaryIO | None, start: int, length: int) -> None:
    """Atomically make ``path`` a spool with nothing acknowledged and ``source[start:start+length]`` pending."""
    temporary = path.with_name(path.name + ".tmp")
    with _open(temporary, truncate=True) as out:
        out.write(_HEADER.format(_HEADER_LEN).encode())
        if source is not None:
            source.seek(start)
            while length > 0:
                block = source.read(min(length, _BLOCK))
                if not block:
                    raise SpoolError(f"{path} shrank while it was being compacted")
                out.write(block)
                length -= len(block)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    # The rename is durable only once the directory entry is; Windows cannot fsync a directory.
    if os.name == "posix":
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _parse_header(raw: bytes, path: Path) -> int:
    try:
        header = json.loads(raw)
        if raw.endswith(b"\n") and header["lookout_spool"] == 1 and int(header["acked"]) >= _HEADER_LEN:
            return int(header["acked"])
    except (ValueError, KeyError, TypeError):
        pass
    raise SpoolError(f"{path} exists but is not a Lookout spool; refusing to overwrite it")


def _last_line_end(file: BinaryIO, size: int) -> int:
    """The offset just past the last newline, scanning backwards; the header ends with one."""
    position = size
    while position > _HEADER_LEN:
        start = max(_HEADER_LEN, position - _BLOCK)
        file.seek(start)
        newline = file.read(position - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return _HEADER_LEN
