"""HuJSON parsing: positions in errors, and normalisation that ignores formatting."""

from __future__ import annotations

import pytest
from factory_common.tailscale import hujson


def test_comments_and_trailing_commas_are_accepted():
    doc = hujson.parse('// top\n{\n  /* block */ "a": [1, 2,], // tail\n  "b": {"c": null,},\n}\n')
    assert doc.value == {"a": [1, 2], "b": {"c": None}}


def test_positions_of_keys_and_values_are_kept():
    doc = hujson.parse('{\n  "tagOwners": {\n    "tag:x": ["alice@example.com"],\n  },\n}')
    assert doc.key_positions[("tagOwners", "tag:x")] == hujson.Position(3, 5)
    assert doc.positions[("tagOwners", "tag:x", 0)] == hujson.Position(3, 15)
    assert doc.where(("tagOwners", "tag:x", 7)) == hujson.Position(3, 5)  # falls back to the key


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "expected ',' or '}'"),
        ('{\n  "a": [1 2]\n}', 2, 11, "expected ',' or ']'"),
        ("{\n  a: 1\n}", 2, 3, "expected a quoted key"),
        ('{\n  "a": "open\n}', 2, 8, "unterminated string"),
        ('{\n  "a": 1,\n  "a": 2,\n}', 3, 3, "duplicate key 'a'"),
        ('{"a": 1}\n/* never closed', 2, 1, "unterminated /* comment"),
        ('{"a": tru}', 1, 7, "unexpected 't'"),
        ("", 1, 1, "empty document"),
        ('{"a": 1}}', 1, 9, "after the end of the document"),
    ],
)
def test_errors_carry_line_and_column(text: str, line: int, column: int, words: str):
    with pytest.raises(hujson.HuJSONError) as caught:
        hujson.parse(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert words in caught.value.message
    assert str(caught.value).startswith(f"line {line}, column {column}: ")


def test_normalisation_ignores_formatting_comments_and_key_order():
    one = '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}], "tests": []}'
    two = """
    // a comment the console added
    {
      "tests": [],
      "acls": [
        {
          "dst":    ["*:*"],   // order of keys differs
          "src": ["*"],
          "action": "accept",
        },
      ],
    }
    """
    assert hujson.normalise(one) == hujson.normalise(two)
    assert hujson.normalised_digest(one) == hujson.normalised_digest(two)


def test_normalisation_keeps_list_order_and_values():
    assert hujson.normalise('{"a": [1, 2]}') != hujson.normalise('{"a": [2, 1]}')
    assert hujson.normalise('{"a": "x"}') != hujson.normalise('{"a": "y"}')


def test_string_escapes():
    assert hujson.parse(r'{"a": "q\"\\\n\u00e9"}').value == {"a": 'q"\\\né'}
