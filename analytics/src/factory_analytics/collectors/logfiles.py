"""Read a log file from a persisted cursor, surviving rotation.

The cursor is (device, inode, offset, fingerprint of the first bytes). Rotation by rename
(logrotate's default, nginx reopen) is detected by a new inode or fingerprint: the rest of the
old file is read first (found by its inode next to the path), then the new file from the
start, so no line written before the rotation is lost. A file shorter than the offset was
truncated (copytruncate): it is read from the start. Only complete lines are consumed; a
half-written last line waits for its newline.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

HEAD_BYTES = 128
MAX_READ = 4 * 1024 * 1024


class FileLines:
    """Lines of one file, read in chunks from a cursor (a plain dict, stored as JSON)."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = str(path)

    def read(self, cursor: dict[str, Any], now: float) -> tuple[list[tuple[str, float]], dict]:
        """Return complete lines (each with `now` as its fallback time) and the new cursor.
        Call again while it returns lines: each call reads at most MAX_READ bytes."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._drain_rotated(cursor, now) if cursor else ([], cursor)
        head = _fingerprint(self.path, int(cursor.get("head_len", HEAD_BYTES)))
        same_file = (
            cursor.get("ino") == st.st_ino
            and cursor.get("dev") == st.st_dev
            and cursor.get("head") == head
        )
        if cursor and not same_file:
            lines, rotated_cursor = self._drain_rotated(cursor, now)
            if lines:
                return lines, rotated_cursor
            cursor = {}
        offset = int(cursor.get("offset", 0)) if cursor else 0
        if st.st_size < offset:
            offset = 0  # truncated in place
        data, consumed = _read_complete(self.path, offset)
        new_offset = offset + consumed
        head_len = min(HEAD_BYTES, max(st.st_size, new_offset))
        new_cursor = {
            "dev": st.st_dev,
            "ino": st.st_ino,
            "offset": new_offset,
            "head": _fingerprint(self.path, head_len),
            "head_len": head_len,
        }
        return [(line, now) for line in data], new_cursor

    def _drain_rotated(self, cursor: dict[str, Any], now: float) -> tuple[list, dict]:
        """Finish the file the cursor points at, if it still exists under another name."""
        old = _find_by_inode(self.path.parent, cursor.get("dev"), cursor.get("ino"))
        if old is None or old == self.path:
            return [], {}
        offset = int(cursor.get("offset", 0))
        data, consumed = _read_complete(old, offset, final=True)
        if not data:
            return [], {}
        return [(line, now) for line in data], {**cursor, "offset": offset + consumed}


def _fingerprint(path: Path, length: int) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read(length)).hexdigest()[:32]
    except OSError:
        return ""


def _read_complete(path: Path, offset: int, *, final: bool = False) -> tuple[list[str], int]:
    """Complete lines from `offset` (at most MAX_READ bytes) and the bytes consumed. A rotated
    (`final`) file's unterminated last line is taken too: nothing will ever complete it."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(MAX_READ)
    except OSError:
        return [], 0
    end = chunk.rfind(b"\n")
    if end < 0:
        if final and chunk and len(chunk) < MAX_READ:
            return [chunk.decode("utf-8", "replace").rstrip("\r")], len(chunk)
        return [], 0
    body = chunk[: end + 1]
    text = body.decode("utf-8", "replace")
    return [line.rstrip("\r") for line in text.split("\n")[:-1]], len(body)


def _find_by_inode(directory: Path, dev: Any, ino: Any) -> Path | None:
    if ino is None:
        return None
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_ino == ino and st.st_dev == dev and entry.is_file(follow_symlinks=False):
            return Path(entry.path)
    return None
