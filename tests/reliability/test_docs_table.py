"""Every row of docs/reliability.md's "bad input" table names tests that exist."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _table_rows():
    with open(os.path.join(ROOT, "docs", "reliability.md")) as file:
        text = file.read().split("## Bad input -> what you get", 1)[1]
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| bad input")]


def _named_tests(cell):
    """`tests/a.py::t1, ::t2, tests/b.py` -> [("tests/a.py", "t1"), ("tests/a.py", "t2"), ("tests/b.py", None)]."""
    named, path = [], None
    for reference in re.findall(r"(tests/[\w/]+\.py)?(?:::(\w+))?", cell):
        path = reference[0] or path
        if reference[0] or reference[1]:
            named.append((path, reference[1] or None))
    return named


def test_every_row_names_existing_tests():
    rows = _table_rows()
    assert len(rows) >= 20
    for row in rows:
        tests = _named_tests(row.rstrip("| ").rsplit("|", 1)[1])
        assert tests, f"no test named in: {row}"
        for path, name in tests:
            with open(os.path.join(ROOT, path)) as file:
                source = file.read()
            assert name is None or f"def {name}(" in source, f"{path}::{name} (row: {row[:60]})"
