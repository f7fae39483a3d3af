"""Read a log file from a persisted cursor, surviving rotation.

The cursor is (device, inode, offset, fingerprint of the first bytes) of the file at the path,
plus the rotated files still being followed (`old`). Rotation by rename (logrotate's default,
nginx reopen) is detected by a new inode: the old file is kept in `old` and read to its end
on every read before the new one, for as long as it exists (nginx writes to the renamed file
until it reopens; at most MAX_FOLLOWED rotated files are followed). Files rotated while the
service was down (access.log → .1 → .2 twice over) are found too: every sibling
(`access.log.N`, `access.log-DATE`, not compressed) modified after the last file read was, and
that is not already known, is read from its start, oldest first. A file shorter than the
offset was truncated (copytruncate): it is read from the start. Only complete lines are
consumed; a half-written last line waits for its newline, unless it grows past the line limit,
in which case it is handed on as an `OverlongLine` and the rest of it is skipped.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path
from typing import Any

from factory_analytics.collectors.lines import (
    MAX_TAIL_BYTES,
    LogSourceError,
    cap_lines,
    overlong,
)

HEAD_BYTES = 128
MAX_READ = 4 * 1024 * 1024
MAX_FOLLOWED = 4
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")


class FileLines:
    """Lines of one file, read in chunks from a cursor (a plain dict, stored as JSON)."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = str(path)

    def read(self, cursor: dict[str, Any], now: float) -> tuple[list[tuple[str, float]], dict]:
        """Return complete lines (each with `now` as its fallback time) and the new cursor.
        Call again while it returns lines: each call reads at most MAX_READ bytes. A path
        that does not exist is a LogSourceError once the rotated files followed are read."""
        cursor = dict(cursor)
        old: list[dict[str, Any]] = [dict(e) for e in cursor.get("old", [])]
        watermark = int(cursor.get("mtime_ns", 0))
        st = self._stat(self.path)
        if cursor.get("ino") is not None and (
            st is None or (st.st_ino, st.st_dev) != (cursor["ino"], cursor.get("dev"))
        ):
            # the file we were reading was renamed (or removed): follow it, and find the
            # files that were rotated in between while we were not looking
            known = {(e["dev"], e["ino"]) for e in old} | {(cursor.get("dev"), cursor["ino"])}
            if st is not None:
                known.add((st.st_dev, st.st_ino))
            old.append(
                {
                    "dev": cursor.get("dev"),
                    "ino": cursor["ino"],
                    "offset": int(cursor.get("offset", 0)),
                    "skip": bool(cursor.get("skip", False)),
                    "head": cursor.get("head"),
                    "head_len": cursor.get("head_len", HEAD_BYTES),
                    "path": str(self.path),
                }
            )
            old.extend(self._rotated_since(watermark, known))
            old = old[-MAX_FOLLOWED:]
            cursor = {}
        kept: list[dict[str, Any]] = []
        for index, entry in enumerate(old):
            found = self._locate(entry)
            if found is None:
                continue  # deleted (or compressed) by logrotate: nothing more to read
            path, est = found
            kept.append(entry)
            watermark = max(watermark, est.st_mtime_ns)
            if est.st_size <= entry["offset"]:
                continue
            lines, consumed, skip = _read_lines(path, entry["offset"], entry.get("skip", False))
            if lines or consumed:
                entry.update(offset=entry["offset"] + consumed, skip=skip, path=str(path))
                rest = kept + old[index + 1 :]
                return [(line, now) for line in lines], {
                    **cursor,
                    "old": rest,
                    "mtime_ns": watermark,
                }
        if st is None:
            # reported even while rotated files are followed: a path that stays missing is a
            # misconfiguration, and the gap of a rotation (rename, then create) is too short
            # to be seen twice in a row
            raise LogSourceError(self._missing_message())
        offset = int(cursor.get("offset", 0)) if cursor else 0
        skip = bool(cursor.get("skip", False)) if cursor else False
        if cursor and cursor.get("head") != _fingerprint(
            self.path, int(cursor.get("head_len", HEAD_BYTES))
        ):
            offset, skip = 0, False  # same inode, new content: rewritten in place
        if st.st_size < offset:
            offset, skip = 0, False  # truncated in place (copytruncate)
        lines, consumed, skip = _read_lines(self.path, offset, skip)
        new_offset = offset + consumed
        head_len = min(HEAD_BYTES, max(st.st_size, new_offset))
        new_cursor: dict[str, Any] = {
            "dev": st.st_dev,
            "ino": st.st_ino,
            "offset": new_offset,
            "head": _fingerprint(self.path, head_len),
            "head_len": head_len,
            "mtime_ns": max(watermark, st.st_mtime_ns),
        }
        if skip:
            new_cursor["skip"] = True
        if kept:
            new_cursor["old"] = kept
        return [(line, now) for line in lines], new_cursor

    def _stat(self, path: Path) -> os.stat_result | None:
        try:
            return os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LogSourceError(f"cannot read {path}: {exc.strerror}") from exc

    def _missing_message(self) -> str:
        parent = self.path.parent
        if not parent.is_dir():
            return f"{self.path} does not exist (no directory {parent}); check `file:`"
        try:
            names = sorted(entry.name for entry in os.scandir(parent) if entry.is_file())
        except OSError:
            names = []
        close = difflib.get_close_matches(self.path.name, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; check `file:`"
        return f"{self.path} does not exist{hint}"

    def _locate(self, entry: dict[str, Any]) -> tuple[Path, os.stat_result] | None:
        """A followed rotated file by its identity: where it was last seen, else anywhere in
        the directory (rotated again). A recycled inode with other content is not it."""
        found: tuple[Path, os.stat_result] | None = None
        hint = Path(entry.get("path", ""))
        try:
            st = os.stat(hint)
            if (st.st_ino, st.st_dev) == (entry["ino"], entry["dev"]):
                found = (hint, st)
        except OSError:
            pass
        if found is None:
            path = _find_by_inode(self.path.parent, entry["dev"], entry["ino"])
            if path is None:
                return None
            try:
                found = (path, os.stat(path))
            except OSError:
                return None
        head = entry.get("head")
        if head and _fingerprint(found[0], int(entry.get("head_len", HEAD_BYTES))) != head:
            return None
        return found

    def _rotated_since(self, watermark: int, known: set[tuple[Any, Any]]) -> list[dict]:
        """Rotated siblings modified after `watermark` that are not known yet, oldest first."""
        prefix = self.path.name
        found: list[tuple[int, str, dict[str, Any]]] = []
        try:
            entries = list(os.scandir(self.path.parent))
        except OSError:
            return []
        for entry in entries:
            name = entry.name
            if (
                name == prefix
                or not name.startswith(prefix)
                or name[len(prefix)] not in ".-_"
                or name.endswith(_COMPRESSED)
            ):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not entry.is_file(follow_symlinks=False) or (st.st_dev, st.st_ino) in known:
                continue
            if st.st_mtime_ns > watermark:
                found.append(
                    (
                        st.st_mtime_ns,
                        name,
                        {
                            "dev": st.st_dev,
                            "ino": st.st_ino,
                            "offset": 0,
                            "skip": False,
                            "path": entry.path,
                        },
                    )
                )
        # oldest first; on equal times the higher number (access.log.2) is the older file
        found.sort(key=lambda item: (item[0], _rotation_number(item[1]) * -1))
        return [item[2] for item in found]


def _rotation_number(name: str) -> int:
    tail = name.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _fingerprint(path: Path, length: int) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read(length)).hexdigest()[:32]
    except OSError:
        return ""


def _read_lines(path: Path, offset: int, skip: bool) -> tuple[list[str], int, bool]:
    """Complete lines from `offset` (at most MAX_READ bytes), the bytes consumed, and whether
    the read ends inside an overlong line whose rest must be skipped. Lines over the limit
    come back as `OverlongLine`s; an unterminated tail over it too, once."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(MAX_READ)
    except OSError as exc:
        raise LogSourceError(f"cannot read {path}: {exc.strerror}") from exc
    if not chunk:
        return [], 0, skip
    start = 0
    if skip:
        newline = chunk.find(b"\n")
        if newline < 0:
            return [], len(chunk), True  # still inside the overlong line
        start, skip = newline + 1, False
    end = chunk.rfind(b"\n")
    lines: list[str] = []
    consumed = start
    if end >= start:
        text = chunk[start : end + 1].decode("utf-8", "replace")
        lines = cap_lines([line.rstrip("\r") for line in text.split("\n")[:-1]])
        consumed = end + 1
    if len(chunk) - consumed > MAX_TAIL_BYTES:
        lines.append(overlong(chunk[consumed:]))
        return lines, len(chunk), True
    return lines, consumed, skip


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
