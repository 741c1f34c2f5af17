"""The linear shell-word splitter gives what `shlex.split` gives, words and errors alike."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arcade_hub.shellwords import check, split

# Shell-ish text: the characters the splitter treats specially, drawn often, plus any other.
special = st.sampled_from([" ", "\t", "\r", "\n", "'", '"', "\\", "a", "b", "#", "$", "\x00"])
shellish = st.text(alphabet=special | st.characters(blacklist_categories=("Cs",)), max_size=60)

# Well-formed command lines built from the pieces a shell word is made of, so that most
# examples split (random text mostly ends in an unclosed quote).
plain = st.text(alphabet=st.characters(blacklist_characters=" \t\r\n'\"\\",
                                       blacklist_categories=("Cs",)), min_size=1, max_size=8)
single = st.text(alphabet=special, max_size=8).map(lambda t: "'" + t.replace("'", "") + "'")
double = st.lists(st.sampled_from(['\\"', "\\\\", "\\a", "\\$", "x", " ", "'", "\n"]),
                  max_size=6).map(lambda parts: '"' + "".join(parts) + '"')
escaped = st.sampled_from(["\\ ", "\\'", '\\"', "\\\\", "\\\n", "\\a"])
word = st.lists(plain | single | double | escaped, min_size=1, max_size=4).map("".join)
gap = st.sampled_from([" ", "  ", "\t", "\n", " \r\n "])
line = st.lists(st.tuples(word, gap), max_size=6).map(lambda ws: "".join(w + g for w, g in ws))


def outcome(splitter: Callable[[str], list[str]], text: str) -> tuple[str, object]:
    try:
        return "words", splitter(text)
    except ValueError as e:
        return "error", str(e)


@settings(max_examples=5000, deadline=None)
@given(shellish)
def test_same_words_and_errors_as_shlex(text: str) -> None:
    assert outcome(split, text) == outcome(shlex.split, text)


@settings(max_examples=5000, deadline=None)
@given(shellish)
def test_check_refuses_what_split_refuses(text: str) -> None:
    assert outcome(lambda t: check(t) or [], text)[0] == outcome(split, text)[0]
    assert outcome(lambda t: check(t) or [], text) in (("words", []), outcome(split, text))


@settings(max_examples=5000, deadline=None)
@given(line)
def test_same_words_for_well_formed_lines(text: str) -> None:
    assert split(text) == shlex.split(text)


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "a", "a b", "  a   b  ", "a\tb\nc\rd", "a\x0bb", "a\xa0b", "''", "a '' b",
        '""', "a'b c'd", 'a"b c"d', "'a\\b'", '"a\\b"', '"a\\"b"', '"a\\\\b"', '"\\$x"',
        "\\ ", "a\\\nb", "\\", "a\\", "'", '"', "'abc", '"abc', '"abc\\', '"abc\\"', "#x",
        "x # y", "\x00", "a\x00b", "'\\''", "\"'\"", "'\"'", "é ü", "a=b 'c=d e'",
    ],
)
def test_known_cases(text: str) -> None:
    assert outcome(split, text) == outcome(shlex.split, text)


def test_a_long_word_is_split_in_linear_time() -> None:
    # A functional check only (timings are benchmarks/shellwords.py's business): a word of
    # a million characters in quotes comes back whole.
    word = "x" * 1_000_000
    assert split(f"a '{word}' \"{word}\" \\{word}") == ["a", word, word, word]
