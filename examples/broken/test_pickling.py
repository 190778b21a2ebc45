"""Broken: an argument, and a result, that cannot travel between processes."""

from __future__ import annotations

from lines import count_lines, words


def test_count_lines_of_open_files(mpcheck, tmp_path):
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for path in paths:
        path.write_text("one\ntwo\n")
    files = [path.open() for path in paths]
    try:
        mpcheck.assert_map_equal(count_lines, files)
    finally:
        for file in files:
            file.close()


def test_words(mpcheck):
    mpcheck.assert_map_equal(words, ["a b", "c d e"])
