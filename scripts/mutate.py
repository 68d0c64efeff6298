"""Mutation testing of the pure core: `scripts/mutate [MODULE ...] [--list] [--only LINE ...]`
(or `.venv/bin/python -m scripts.mutate` from the repository root). Run by hand, not in CI.

Each mutant changes one operator or constant of a module (see `Mutator`). The module's test
files (`TARGETS`) first run once on the unchanged module, traced, to learn which tests execute
which of its lines; each mutant then runs only the tests that execute the changed lines (all of
the files' tests for a line that runs at import). The mutant is *killed* when they fail or
outlast the time bound, and *survives* when they pass; survivors are printed with their place
and diff. docs/testing.md explains the choices and lists the survivors of the last run.

Speed on a small machine: third-party libraries, and the gateway's modules that do not import
the mutated one, are imported once; every run is a forked child that builds the mutated module
in memory (no file is written, so the worktree never holds a mutant, even when this script is
killed) and runs pytest there. The PostgreSQL
variants of parametrised tests are left out (`-k "not postgresql"`): the modules mutated here
never speak to the database themselves.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

# -- What is mutated, and which tests judge it ------------------------------------------------
# module -> (the functions, classes and module-level names mutated, or () for the whole
# module; the test files whose tests may judge its mutants, fastest first: pytest stops at the
# first failure). Each holds the module's own tests, plus the SMTP tests that drive it from
# outside. Update this table when a module or a test file moves.
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gateway.policy.rules": (
        (),
        (
            "tests/gateway/policy/test_rules.py",
            "tests/gateway/policy/test_limits.py",
            "tests/gateway/policy/test_sending_policy.py",
            "tests/gateway/intake/test_recipients.py",
        ),
    ),
    "gateway.policy.limits": (
        (),
        ("tests/gateway/policy/test_limits.py",),
    ),
    "gateway.core.batching": (
        (),
        ("tests/gateway/core/test_batching.py",),
    ),
    "gateway.feedback.reputation": (
        (),
        ("tests/gateway/feedback/test_reputation.py",),
    ),
    "gateway.feedback.sns": (
        (  # the signature check: URL rules, certificates, signature, topic and age
            "_HOST",
            "_CERT_URL",
            "_SUBSCRIBE_URL",
            "_SIGNED_KEYS",
            "_OPTIONAL_KEYS",
            "_HASHES",
            "string_to_sign",
            "check_signing_cert_url",
            "check_subscribe_url",
            "_public_key",
            "SnsVerifier",
        ),
        ("tests/gateway/feedback/test_sns.py",),
    ),
}
PYTEST_ARGS = (
    *("-x", "-q", "-p", "no:cacheprovider", "-k", "not postgresql"),
    *("-W", "ignore::pytest.PytestAssertRewriteWarning"),  # its plugins are imported already
)
PROJECT = ("gateway", "admin", "config", "tests")
"""Top-level packages of this repository: never imported by the parent process."""


# -- Mutants ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutant:
    line: int
    col: int
    end_line: int
    end_col: int
    replacement: str
    what: str

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        start = sum(len(x) for x in lines[: self.line - 1]) + _char_offset(
            lines[self.line - 1], self.col
        )
        end = sum(len(x) for x in lines[: self.end_line - 1]) + _char_offset(
            lines[self.end_line - 1], self.end_col
        )
        return source[:start] + self.replacement + source[end:]


def _char_offset(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


_SWAPS: dict[type[ast.AST], Any] = {  # an operator's class: the class it becomes
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.Mult,
    ast.And: ast.Or,
    ast.Or: ast.And,
}
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.And: "and",
    ast.Or: "or",
}
_NAME = "abcdefghijklmnopqrstuvwxyz0123456789-_."


class Mutator(ast.NodeVisitor):
    """The mutants of one module, each a change of one node:

    - a comparison, arithmetic or boolean operator swapped (`<` and `<=`, `*` and `/`, `and`
      and `or`, `in` and `not in`, ...), `+=` and `-=` swapped, `not` removed;
    - a number changed (`n` to `n + 1`), `True` and `False` swapped;
    - a name-like string (`daily-cap`, `reputation.warning`) changed; a regular expression
      loses one escape (`\\.` becomes `.`). Sentences (messages) are left alone;
    - a statement that only calls something (`queue.task_done()`) removed.

    Docstrings, annotations and `log_event(...)` / `log.*(...)` lines are not mutated.
    """

    def __init__(self, source: str, scope: tuple[str, ...]) -> None:
        self.source = source
        self.scope = scope
        self.mutants: list[Mutant] = []

    def run(self) -> list[Mutant]:
        tree = ast.parse(self.source)
        for statement in tree.body:
            if self.scope and _defined_name(statement) not in self.scope:
                continue
            self.visit(statement)
        return self.mutants

    def add(self, node: ast.expr | ast.stmt, replacement: ast.AST | str, what: str) -> None:
        text = replacement if isinstance(replacement, str) else ast.unparse(replacement)
        end_line, end_col = node.end_lineno or node.lineno, node.end_col_offset or node.col_offset
        self.mutants.append(Mutant(node.lineno, node.col_offset, end_line, end_col, text, what))

    def copy(self, node: ast.AST) -> ast.AST:
        return ast.parse(ast.unparse(node), mode="eval").body

    # -- skipped --
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                self.visit(default)
        self.body(node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.body(node.body)

    def body(self, statements: list[ast.stmt]) -> None:
        for index, statement in enumerate(statements):
            if index == 0 and _is_docstring(statement):
                continue
            self.visit(statement)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self.unescape(node)
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                self.visit(value.value)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        return

    visit_Import = visit_ImportFrom  # type: ignore[assignment]

    # -- mutated --
    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # an attribute's docstring
        if _is_logging(node.value):
            return
        call = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(call, ast.Call):
            self.add(node, "pass", f"removed `{ast.unparse(node)[:60]}`")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for index, op in enumerate(node.ops):
            swapped = _SWAPS.get(type(op))
            if swapped is not None:
                mutated = self.copy(node)
                assert isinstance(mutated, ast.Compare)
                mutated.ops[index] = swapped()
                self.add(node, mutated, f"{_op(op)} -> {_op(swapped())}")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swapped = _SWAPS.get(type(node.op))
        if swapped is not None and not _is_string_format(node):
            mutated = self.copy(node)
            assert isinstance(mutated, ast.BinOp)
            mutated.op = swapped()
            self.add(node, mutated, f"{_op(node.op)} -> {_op(swapped())}")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        swapped = _SWAPS.get(type(node.op))
        if swapped is not None:
            mutated = ast.AugAssign(node.target, swapped(), node.value)
            self.add(node, mutated, f"{_op(node.op)}= -> {_op(swapped())}=")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        mutated = self.copy(node)
        assert isinstance(mutated, ast.BoolOp)
        mutated.op = _SWAPS[type(node.op)]()
        self.add(node, mutated, f"{_op(node.op)} -> {_op(mutated.op)}")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self.add(node, f"({ast.unparse(node.operand)})", "removed `not`")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self.add(node, repr(not value), f"{value} -> {not value}")
        elif isinstance(value, int | float):
            self.add(node, repr(value + 1), f"{value!r} -> {value + 1!r}")
        elif isinstance(value, str) and value and all(c in _NAME for c in value.lower()):
            changed = ("Y" if value[0] == "X" else "X") + value[1:]
            self.add(node, repr(changed), f"{value!r} -> {changed!r}")
        elif isinstance(value, str):
            self.unescape(node)

    def unescape(self, node: ast.Constant | ast.JoinedStr) -> None:
        """A raw string (a regular expression) with each of its `\\.` in turn made a `.`."""
        raw = self.segment(node)
        if not raw.lower().startswith(("r", "fr", "rf")):
            return
        start = 0
        while (found := raw.find("\\.", start)) >= 0:
            self.add(node, raw[:found] + raw[found + 1 :], f"unescaped the `.` at {found}")
            start = found + 2

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""


def _defined_name(statement: ast.stmt) -> str | None:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.name
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id
    if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id
    return None


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_logging(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    if isinstance(function, ast.Name):
        return function.id == "log_event"
    target = function.value if isinstance(function, ast.Attribute) else None
    return isinstance(target, ast.Name) and target.id in {"log", "logger"}


def _is_string_format(node: ast.BinOp) -> bool:
    return isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)


def _op(op: ast.AST) -> str:
    return _SYMBOLS[type(op)]


def mutants_of(module: str) -> tuple[Path, str, list[Mutant]]:
    path = REPO / (module.replace(".", "/") + ".py")
    source = path.read_text()
    scope, _ = TARGETS[module]
    return path, source, Mutator(source, scope).run()


# -- Running ----------------------------------------------------------------------------------
def preload(modules: list[str]) -> list[str]:
    """Import, in this process, the third-party modules the tests import (found by importing
    the test files in a child process), so that each forked test run starts with them loaded.
    Returns every module that child imported, in order, for `preload_project`."""
    test_files = sorted({f for m in modules for f in TARGETS[m][1]})
    imports = "\n".join(
        f"import {f.removesuffix('.py').replace('/', '.')}"
        for f in ("tests/conftest.py", *test_files)
    )
    probe = f"import sys, json, pytest\n{imports}\nprint(json.dumps(list(sys.modules)))"
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    names: list[str] = json.loads(found.stdout)
    plugins = [e.module for e in importlib.metadata.entry_points(group="pytest11")]
    for name in [*plugins, *names]:
        if name.split(".")[0] not in (*PROJECT, "__main__"):
            _try_import(name)
    return names


def preload_project(module: str, names: list[str]) -> None:
    """Import the gateway's own modules that neither are `module` nor import it, even
    indirectly: a child then builds only the mutant and what depends on it."""
    graph: dict[str, set[str]] = {}
    for name in names:
        if name.split(".")[0] not in PROJECT or name.startswith("tests"):
            continue
        base = REPO / name.replace(".", "/")
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not path.is_file():
            continue
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                graph[name].add(node.module)
                graph[name].update(f"{node.module}.{alias.name}" for alias in node.names)
    tainted = {module}
    while grown := {n for n, deps in graph.items() if deps & tainted} - tainted:
        tainted |= grown
    for name in names:
        if name in graph and name not in tainted:
            _try_import(name)


def _try_import(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception:  # one that cannot be imported alone: the child will
        return


class Recorder:
    """A pytest plugin for the baseline run: which lines of `filename` each test executes, and
    how long each test takes. Lines run outside any test (at import) are not recorded."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.current: str | None = None
        self.lines: dict[str, set[int]] = {}
        self.seconds: dict[str, float] = {}

    def trace(self, frame: FrameType, event: str, arg: object) -> Any:
        if event != "call" or frame.f_code.co_filename != self.filename:
            return None
        return self.trace_lines

    def trace_lines(self, frame: FrameType, event: str, arg: object) -> Any:
        if self.current is not None and event == "line":
            self.lines[self.current].add(frame.f_lineno)
        return self.trace_lines

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self.current = item.nodeid
        self.lines[item.nodeid] = set()
        yield
        self.current = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration


@dataclass
class Baseline:
    tests: list[str]
    """Every test of the module's files, in the order they ran."""
    lines: dict[str, set[int]]
    seconds: dict[str, float]

    def covering(self, mutant: Mutant) -> list[str]:
        """The tests that run the mutated lines, in order; all of them for lines that run only
        at import (module constants, class bodies, defaults)."""
        span = set(range(mutant.line, mutant.end_line + 1))
        found = [test for test in self.tests if self.lines[test] & span] or self.tests
        # By function: a mutant may change the ids of parametrised cases (`test_x[too_few]`).
        return list(dict.fromkeys(test.partition("[")[0] for test in found))

    def seconds_of(self, tests: list[str]) -> float:
        return sum(t for test, t in self.seconds.items() if test.partition("[")[0] in tests)


def run_tests(
    module: str,
    source: str,
    tests: list[str],
    timeout: float,
    log: Path,
    recorder: Recorder | None = None,
) -> str:
    """`killed`, `survived` or `timeout`: `tests` (node ids) run against `source`, the module's
    text. With `recorder`, the run is traced and the recorder's findings written to `log`."""
    path = REPO / (module.replace(".", "/") + ".py")
    pid = os.fork()
    if pid == 0:  # the child: the mutant in memory, then pytest
        status = 3
        try:
            os.setpgrp()
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.chdir(REPO)
            sys.path.insert(0, str(REPO))
            spec = importlib.util.spec_from_file_location(module, path)
            assert spec is not None
            mutated = importlib.util.module_from_spec(spec)
            sys.modules[module] = mutated
            exec(compile(source, str(path), "exec"), mutated.__dict__)  # noqa: S102 - the mutant
            parent, _, name = module.rpartition(".")
            setattr(importlib.import_module(parent), name, mutated)
            if recorder is None:
                status = int(pytest.main([*tests, *PYTEST_ARGS]))
            else:
                sys.settrace(recorder.trace)
                threading.settrace(recorder.trace)
                status = int(pytest.main([*tests, *PYTEST_ARGS], plugins=[recorder]))
                sys.settrace(None)
                found = {"lines": {t: sorted(x) for t, x in recorder.lines.items()}}
                found["seconds"] = recorder.seconds  # type: ignore[assignment]
                print("\n" + json.dumps(found), flush=True)
        except BaseException as exc:  # a mutant that breaks the import is killed
            print(f"mutant failed to load: {exc!r}", flush=True)
            status = 1  # killed: it cannot even be loaded
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    deadline = time.monotonic() + timeout
    done = 0
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                # pytest: 0 passed, 1 failed, 2 interrupted (a collection error); 4 and 5 (usage
                # error, nothing collected) mean that the selection is wrong, not the mutant.
                return {0: "survived", 4: "error", 5: "error"}.get(code, "killed")
            if time.monotonic() > deadline:
                return "timeout"
            time.sleep(0.05)
    finally:
        if not done:  # timed out, or this script was interrupted: the child's group goes too
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def baseline(module: str, source: str, log: Path) -> Baseline | None:
    """The module's tests, traced, on the unmutated module; None if they fail."""
    path = REPO / (module.replace(".", "/") + ".py")
    recorder = Recorder(str(path))
    if run_tests(module, source, list(TARGETS[module][1]), 3600, log, recorder) != "survived":
        return None
    found = json.loads(log.read_text().rstrip().rsplit("\n", 1)[-1])
    lines = {test: set(numbers) for test, numbers in found["lines"].items()}
    return Baseline(list(lines), lines, found["seconds"])


def diff(path: Path, source: str, mutated: str) -> str:
    lines = difflib.unified_diff(
        source.splitlines(),
        mutated.splitlines(),
        str(path.relative_to(REPO)),
        "mutant",
        n=0,
        lineterm="",
    )
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


def mutate(
    module: str,
    path: Path,
    source: str,
    mutants: list[Mutant],
    timeout: float | None,
    log: Path,
) -> tuple[int, int, int] | None:
    """Run the mutants of `module`, printing each: (killed, survived, errors), or None when the
    tests fail on the unmutated module."""
    base = baseline(module, source, log)
    if base is None:
        return None
    killed = survived = errors = 0
    for m in mutants:
        mutated = m.apply(source)
        tests = base.covering(m)
        bound = timeout or 15 + 3 * base.seconds_of(tests)
        result = run_tests(module, mutated, tests, bound, log)
        where = f"{path.relative_to(REPO)}:{m.line}:{m.col + 1}: {m.what} ({len(tests)} tests)"
        if result == "survived":
            survived += 1
            print(f"SURVIVED {where}")
            print(diff(path, source, mutated), flush=True)
        elif result == "error":
            errors += 1
            print(f"ERROR (see --log) {where}", flush=True)
        else:
            killed += 1
            print(f"{result} {where}", flush=True)
    return killed, survived, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(TARGETS), metavar="MODULE")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument(
        "--only", type=int, nargs="+", metavar="LINE", help="mutants on these lines"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per mutant (default: 15 + 3 x its tests' time in the baseline)",
    )
    parser.add_argument(
        "--log", type=Path, help="keep pytest's output of the last run in this file"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the running child goes too
    unknown = set(args.modules) - set(TARGETS)
    if unknown:
        parser.error(f"not in TARGETS: {', '.join(sorted(unknown))}")
    names = [] if args.list else preload(args.modules)
    log = args.log or Path(tempfile.gettempdir()) / f"mutate-{os.getpid()}.log"
    tally: list[tuple[str, int, int, int, int]] = []
    for module in args.modules:
        path, source, mutants = mutants_of(module)
        if args.only:
            mutants = [m for m in mutants if m.line in args.only]
        print(f"== {module}: {len(mutants)} mutants", flush=True)
        if args.list:
            for m in mutants:
                print(f"{path.relative_to(REPO)}:{m.line}:{m.col + 1}: {m.what}")
            continue
        # In a child of its own, which imports what the mutants leave unchanged.
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(reader)
            status = 2
            try:
                preload_project(module, names)
                result = mutate(module, path, source, mutants, args.timeout, log)
                if result is not None:
                    os.write(writer, json.dumps(result).encode())
                    status = 0
            finally:
                sys.stdout.flush()
                os._exit(status)
        os.close(writer)
        try:
            with os.fdopen(reader) as pipe:
                answer = pipe.read()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # when interrupted; it then stops its own child
            os.waitpid(pid, 0)
        if not answer:
            print(f"the tests fail on the unmutated {module}: see {log}")
            return 2
        tally.append((module, len(mutants), *json.loads(answer)))
    if tally:
        print("\nmodule                 mutants  killed  survived  errors")
        for module, count, killed, survived, errors in tally:
            print(f"{module:<22} {count:>7} {killed:>7} {survived:>9} {errors:>7}")
    if not args.log:
        log.unlink(missing_ok=True)
    return 1 if any(survived or errors for *_, survived, errors in tally) else 0


if __name__ == "__main__":
    sys.exit(main())
