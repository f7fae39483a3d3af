"""Messages are shortened at word and line boundaries, never mid-word (issue 10)."""

from __future__ import annotations

from reconciler.clip import ELLIPSIS, clip, tail_lines
from reconciler.providers.docker.health import _describe
from reconciler.resources import Healthcheck

from .helpers import spec


def test_clip_keeps_whole_words_and_marks_the_cut() -> None:
    text = "python3 -c import sys,urllib.request;sys.exit(0 if urlopen(url).status == 200 else 1)"
    for limit in range(10, len(text)):
        short = clip(text, limit)
        assert short.endswith(" " + ELLIPSIS)
        kept = short.removesuffix(" " + ELLIPSIS)
        assert text.startswith(kept)
        assert len(kept) <= limit
        # a cut at a space whenever one is in reach: the kept words are whole
        if " " in text[limit // 2 + 1 : limit + 1]:
            assert text[len(kept)] == " ", (limit, short)
    assert clip(text, len(text)) == text


def test_tail_lines_keeps_whole_last_lines() -> None:
    output = "Traceback (most recent call last):\n  File x, line 1, in error\nHTTPError: 500\n"
    assert tail_lines(output, 1000) == output.splitlines()
    assert tail_lines(output, 45) == [ELLIPSIS, "  File x, line 1, in error", "HTTPError: 500"]
    assert tail_lines(output, 20) == [ELLIPSIS, "HTTPError: 500"]
    assert tail_lines("one very long line of words", 10) == ["one very " + ELLIPSIS]


def test_a_long_healthcheck_is_described_up_to_a_whole_word() -> None:
    word = "urllib.request.urlopen('http://127.0.0.1:8000/healthz').status"
    check = Healthcheck(test=("CMD-SHELL", " ".join([word] * 4)))
    described = _describe(spec(healthcheck=check))
    shown = described.removeprefix("healthcheck `").removesuffix("`")
    assert shown.endswith(ELLIPSIS)
    assert all(part == word for part in shown.removesuffix(" " + ELLIPSIS).split(" "))
