"""scripts/mutate.py: the mutants it makes of a small module, and their text."""

from __future__ import annotations

import ast

from scripts.mutate import Mutator

SOURCE = '''"""A module."""
import re

_HOST = re.compile(r"sns\\.example")


def check(count: int, limit: int | None, names: list[str]) -> bool:
    """Docstring."""
    log_event(log, "checked", count=count)
    names.append("daily-cap")
    if limit is not None and not count < limit:
        return False
    count += 1
    return count * 2 > 0
'''


def test_each_mutant_changes_one_thing_and_stays_python() -> None:
    mutants = Mutator(SOURCE, ()).run()
    assert [(m.line, m.what) for m in mutants] == [
        (4, "unescaped the `.` at 5"),
        (10, "removed `names.append('daily-cap')`"),
        (10, "'daily-cap' -> 'Xaily-cap'"),
        (11, "and -> or"),
        (11, "is not -> is"),
        (11, "removed `not`"),
        (11, "< -> <="),
        (12, "False -> True"),
        (13, "+= -> -="),
        (13, "1 -> 2"),
        (14, "> -> >="),
        (14, "* -> /"),
        (14, "2 -> 3"),
        (14, "0 -> 1"),
    ]
    for mutant in mutants:
        mutated = mutant.apply(SOURCE)
        ast.parse(mutated)
        changed = [
            a for a, b in zip(SOURCE.splitlines(), mutated.splitlines(), strict=True) if a != b
        ]
        assert len(changed) == 1, mutant
    assert mutants[0].apply(SOURCE).splitlines()[3] == '_HOST = re.compile(r"sns.example")'
    assert mutants[3].apply(SOURCE).splitlines()[10] == (
        "    if limit is not None or not count < limit:"
    )


def test_a_scope_limits_the_mutants_to_those_names() -> None:
    assert {m.line for m in Mutator(SOURCE, ("_HOST",)).run()} == {4}
