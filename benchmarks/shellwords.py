"""Shell-word splitting: `arcade_hub.shellwords.split` against `shlex.split` (the baseline, in
the same run), on inputs of growing size.

Shapes: one long quoted word (what blocked the service: shlex is quadratic in a word's length),
one long plain word with a backslash (no fast path), and many short words with quotes. For each
size the best of `--rounds` runs is kept; `growth` is time(largest) / time(smallest) over the
size ratio: about 1 for linear time, about the size ratio for quadratic.

    python benchmarks/shellwords.py [--rounds 3] [--max-kb 1024] [--shlex-max-kb 256]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arcade_hub.shellwords import split

SHAPES: dict[str, Callable[[int], str]] = {
    "one_quoted_word": lambda n: "'" + "x" * (n - 2) + "'",
    "one_escaped_word": lambda n: "\\ " + "x" * (n - 2),
    "many_short_words": lambda n: "a 'b' \"c\" " * (n // 12),
}


def best(call: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-kb", type=int, default=1024)
    parser.add_argument("--shlex-max-kb", type=int, default=256)
    opts = parser.parse_args()
    sizes_kb = [kb for kb in (16, 32, 64, 128, 256, 512, 1024) if kb <= opts.max_kb]
    result: dict[str, object] = {"rounds": opts.rounds, "sizes_kb": sizes_kb, "shapes": {}}
    for shape, make in SHAPES.items():
        rows: dict[str, dict[str, float | None]] = {}
        for kb in sizes_kb:
            text = make(kb * 1024)
            ours = best(lambda: split(text), opts.rounds)  # noqa: B023
            theirs = None
            if kb <= opts.shlex_max_kb:
                theirs = best(lambda: shlex.split(text), 1)  # noqa: B023
                assert split(text) == shlex.split(text), f"{shape}: the words differ"
            rows[str(kb)] = {
                "split_ms": round(ours * 1000, 3),
                "shlex_ms": None if theirs is None else round(theirs * 1000, 3),
            }
            print(f"{shape} {kb} KB: {rows[str(kb)]}", file=sys.stderr)
        result["shapes"][shape] = {  # type: ignore[index]
            "by_size_kb": rows,
            "growth": growth(rows, "split_ms"),
            "shlex_growth": growth(rows, "shlex_ms"),
        }
    print(json.dumps(result, indent=2))


def growth(rows: dict[str, dict[str, float | None]], key: str) -> float | None:
    """time(largest) / time(smallest), divided by largest / smallest size (1 = linear)."""
    measured = [(int(kb), row[key]) for kb, row in rows.items() if row[key]]
    if len(measured) < 2:
        return None
    (small, t_small), (large, t_large) = measured[0], measured[-1]
    assert t_small and t_large
    return round((t_large / t_small) / (large / small), 2)


if __name__ == "__main__":
    main()
