"""Split a string into words as `shlex.split` does, in linear time.

`shlex.split` builds each word one character at a time on an attribute, which CPython
cannot extend in place: a word of n characters costs O(n²) (a 400 KB word took seconds).
`split` gives the same words and the same errors (`ValueError("No closing quotation")`,
`ValueError("No escaped character")`) for every string, with one regular expression doing
the character work:

- words are separated by runs of space, tab, CR or LF (nothing else is whitespace);
- `'...'` keeps everything inside as it is; `"..."` keeps everything but `\\"` and `\\\\`,
  which become `"` and `\\` (a backslash before any other character stays);
- outside quotes a backslash takes the next character as it is (a newline too);
- quotes join with what is next to them (`a'b c'd` is one word) and `''` is an empty word;
- no comments, no variables, no globbing: what `shlex.split(s)` does with its defaults.
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(r"[ \t\r\n]+")
_SPECIAL = re.compile(r"['\"\\]")
# Each alternative starts with characters the others do not, and a double-quoted part is
# written as an "unrolled loop" (runs of ordinary characters between escapes): there is one
# way at most to match, so a failed match gives back each character once (linear time).
# No possessive quantifiers: CPython 3.11.2 (Debian 12) matches some of them wrongly.
_DOUBLE = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_PIECE = re.compile(
    rf"""(?P<space>[ \t\r\n]+)
      | (?P<plain>[^ \t\r\n'"\\]+)
      | '(?P<single>[^']*)'
      | (?P<double>{_DOUBLE})
      | \\(?P<escaped>.)""",
    re.VERBOSE | re.DOTALL,
)
_DOUBLE_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_WELL_FORMED = re.compile(rf"""[^'"\\]*(?:(?:'[^']*'|{_DOUBLE}|\\.)[^'"\\]*)*""", re.DOTALL)
_DOUBLE_ESCAPE = re.compile(r'\\([\\"])')


def split(text: str) -> list[str]:
    """The words of `text`, as `shlex.split(text)` gives them; raises ValueError as it does."""
    if _SPECIAL.search(text) is None:  # no quotes, no backslashes: separators only
        return [w for w in _SEPARATOR.split(text) if w]
    words: list[str] = []
    pieces: list[str] = []
    in_word = False
    pos, end = 0, len(text)
    while pos < end:
        m = _PIECE.match(text, pos)
        if m is None:
            raise ValueError(_error(text, pos))
        kind = m.lastgroup
        assert kind is not None
        if kind == "space":
            if in_word:
                words.append("".join(pieces))
                pieces.clear()
                in_word = False
        elif kind == "double":
            pieces.append(_DOUBLE_ESCAPE.sub(r"\1", m["double"][1:-1]))
            in_word = True
        else:
            pieces.append(m[kind])
            in_word = True
        pos = m.end()
    if in_word:
        words.append("".join(pieces))
    return words


def check(text: str) -> None:
    """Raise the ValueError `split(text)` would raise, if any, without making the words: one
    regular expression match, for text that is only checked now and split later."""
    if _WELL_FORMED.fullmatch(text) is None:
        split(text)  # raises, saying why
        raise AssertionError(f"{text!r} is well-formed after all")


def _error(text: str, pos: int) -> str:
    """Why nothing matches at `pos`: an unclosed quote, or a backslash at the very end."""
    if text[pos] == '"':
        body = _DOUBLE_BODY.match(text, pos + 1)
        assert body is not None  # it matches the empty string
        if text[body.end():] == "\\":
            return "No escaped character"
        return "No closing quotation"
    if text[pos] == "'":
        return "No closing quotation"
    return "No escaped character"  # a lone backslash ends the text
