"""HuJSON (JSON with comments and trailing commas), as Tailscale's policy file uses it.

Why our own parser: the policy file is the one piece of the tailnet a person edits by hand,
so a mistake must come back as ``policy.hujson:12:5: expected ',' or '}'`` with a fix, and
every key must keep its line so later checks (a tag missing from ``tagOwners``) can point at
it. The standard ``json`` module gives neither comments nor positions.

Normalisation (:func:`normalise`) turns a document into canonical JSON text (sorted keys,
two-space indent). Two files that differ only in formatting, comments, key order or trailing
commas normalise to the same text, so the plan shows no diff for them.

This module never performs I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HuJSONDocument",
    "HuJSONError",
    "Position",
    "normalise",
    "normalised_digest",
    "parse",
    "to_json",
]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """1-based line and column of a value (or of an object key) in the source text."""

    line: int
    column: int


class HuJSONError(ValueError):
    """The text is not valid HuJSON; carries the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int, column: int, fix: str = "") -> None:
        self.message = message
        self.line = line
        self.column = column
        self.fix = fix
        hint = f" ({fix})" if fix else ""
        super().__init__(f"line {line}, column {column}: {message}{hint}")


@dataclass
class HuJSONDocument:
    """A parsed document: its value, and where each value and key sits in the text.

    ``positions[("acls", 0, "src")]`` is where the value of that key starts;
    ``key_positions`` holds where each object key itself starts (what an error points at).
    """

    value: Any
    positions: dict[Path, Position] = field(default_factory=dict)
    key_positions: dict[Path, Position] = field(default_factory=dict)

    def where(self, path: Path) -> Position | None:
        """Best position for a path: the key if it is one, else the value, else a parent."""
        probe = tuple(path)
        while True:
            if probe in self.key_positions:
                return self.key_positions[probe]
            if probe in self.positions:
                return self.positions[probe]
            if not probe:
                return None
            probe = probe[:-1]


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.col = 1
        self.doc = HuJSONDocument(value=None)

    # -- low level -------------------------------------------------------------------------
    def error(self, message: str, fix: str = "") -> HuJSONError:
        return HuJSONError(message, self.line, self.col, fix)

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self.text[self.i] == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
            self.i += 1

    def here(self) -> Position:
        return Position(self.line, self.col)

    def skip_space(self) -> None:
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch in " \t\r\n\ufeff":
                self.advance()
            elif self.text.startswith("//", self.i):
                while self.i < len(self.text) and self.text[self.i] != "\n":
                    self.advance()
            elif self.text.startswith("/*", self.i):
                start = self.here()
                self.advance(2)
                end = self.text.find("*/", self.i)
                if end < 0:
                    raise HuJSONError(
                        "unterminated /* comment", start.line, start.column, "close it with */"
                    )
                self.advance(end + 2 - self.i)
            else:
                return

    # -- grammar ---------------------------------------------------------------------------
    def document(self) -> HuJSONDocument:
        self.skip_space()
        if not self.peek():
            raise self.error("empty document", "the policy file must contain one JSON object")
        self.doc.value = self.value(())
        self.skip_space()
        if self.peek():
            raise self.error(
                f"unexpected {self.peek()!r} after the end of the document",
                "remove it, or check for a missing '{' earlier",
            )
        return self.doc

    def value(self, path: Path) -> Any:
        self.skip_space()
        self.doc.positions[path] = self.here()
        ch = self.peek()
        if ch == "{":
            return self.object(path)
        if ch == "[":
            return self.array(path)
        if ch == '"':
            return self.string()
        if ch == "-" or ch.isdigit():
            return self.number()
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, self.i):
                self.advance(len(word))
                return literal
        if not ch:
            raise self.error("unexpected end of file", "a value, '}' or ']' is missing")
        raise self.error(
            f"unexpected {ch!r} where a value was expected",
            "strings need double quotes; values are objects, arrays, strings, numbers, "
            "true, false or null",
        )

    def object(self, path: Path) -> dict[str, Any]:
        self.advance()  # {
        result: dict[str, Any] = {}
        while True:
            self.skip_space()
            if self.peek() == "}":
                self.advance()
                return result
            if self.peek() != '"':
                raise self.error(
                    f"expected a quoted key or '}}', found {self.peek() or 'end of file'!r}",
                    "object keys must be double-quoted strings",
                )
            key_at = self.here()
            key = self.string()
            if key in result:
                raise HuJSONError(
                    f"duplicate key {key!r}", key_at.line, key_at.column, "keep only one of them"
                )
            self.doc.key_positions[(*path, key)] = key_at
            self.skip_space()
            if self.peek() != ":":
                raise self.error(f"expected ':' after key {key!r}")
            self.advance()
            result[key] = self.value((*path, key))
            self.skip_space()
            if self.peek() == ",":
                self.advance()
                continue
            if self.peek() == "}":
                continue
            raise self.error(
                f"expected ',' or '}}' after the value of {key!r}, found "
                f"{self.peek() or 'end of file'!r}",
                "add the missing comma between entries",
            )

    def array(self, path: Path) -> list[Any]:
        self.advance()  # [
        result: list[Any] = []
        while True:
            self.skip_space()
            if self.peek() == "]":
                self.advance()
                return result
            result.append(self.value((*path, len(result))))
            self.skip_space()
            if self.peek() == ",":
                self.advance()
                continue
            if self.peek() == "]":
                continue
            raise self.error(
                f"expected ',' or ']' in a list, found {self.peek() or 'end of file'!r}",
                "add the missing comma between list items",
            )

    def string(self) -> str:
        start = self.here()
        self.advance()  # opening quote
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch or ch == "\n":
                raise HuJSONError(
                    "unterminated string", start.line, start.column, "close it with '\"'"
                )
            if ch == '"':
                self.advance()
                return "".join(out)
            if ch == "\\":
                self.advance()
                esc = self.peek()
                if esc == "u":
                    digits = self.text[self.i + 1 : self.i + 5]
                    if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                        raise self.error("invalid \\u escape", "use four hex digits")
                    out.append(chr(int(digits, 16)))
                    self.advance(5)
                    continue
                if esc not in _ESCAPES:
                    raise self.error(f"invalid escape '\\{esc}'")
                out.append(_ESCAPES[esc])
                self.advance()
                continue
            if ord(ch) < 0x20:
                raise self.error("control character in string", "escape it")
            out.append(ch)
            self.advance()

    def number(self) -> int | float:
        start = self.i
        at = self.here()
        while self.peek() and self.peek() in "+-0123456789.eE":
            self.advance()
        raw = self.text[start : self.i]
        try:
            number: int | float = json.loads(raw)
            return number
        except json.JSONDecodeError:
            raise HuJSONError(f"invalid number {raw!r}", at.line, at.column) from None


def parse(text: str) -> HuJSONDocument:
    """Parse HuJSON text; raise :class:`HuJSONError` with line and column on bad input."""
    return _Parser(text).document()


def to_json(value: Any) -> str:
    """Canonical JSON text of a value: sorted keys, two-space indent, trailing newline."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def normalise(text: str) -> str:
    """Canonical JSON of HuJSON text; equal for texts that differ only in formatting."""
    return to_json(parse(text).value)


def normalised_digest(text: str) -> str:
    """sha256 hex of :func:`normalise` (what we remember as "last applied")."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()
