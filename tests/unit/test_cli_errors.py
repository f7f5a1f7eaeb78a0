"""The command line's error boundary: one named line per failure, tracebacks with --debug."""

from __future__ import annotations

import argparse
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import duckdb
import pytest

from precompute.cli import main as precompute_main
from precompute.cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    MAX_MESSAGE_CHARS,
    describe_error,
    format_message,
    run_command,
)

ARGS = argparse.Namespace(command="export", db=Path("/data/db.duckdb"), out=Path("x.parquet"))


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (IndexError("list index out of range"), EXIT_FAILED, ["IndexError", "--db /data/db"]),
        (OverflowError("int too large"), EXIT_FAILED, ["OverflowError", "--out x.parquet"]),
        (KeyError("wnid"), EXIT_BAD_INPUT, ["no entry 'wnid'", "export --db"]),
        (EOFError(), EXIT_BAD_INPUT, ["ended early", "--db /data/db.duckdb"]),
        (RecursionError(), EXIT_BAD_INPUT, ["nested too deeply", "export"]),
        (BrokenProcessPool(), EXIT_FAILED, ["worker process died", "resume"]),
        (PermissionError(13, "Permission denied", "/ro/db"), EXIT_BAD_INPUT, ["/ro/db"]),
        (OSError(28, "No space left on device", "/full/x"), EXIT_BAD_INPUT, ["No space", "/full"]),
        (duckdb.IOException("Could not set lock"), EXIT_BAD_INPUT, ["lock", "--db /data"]),
        (ValueError("threshold 7 is outside"), EXIT_BAD_INPUT, ["threshold 7", "--db /data"]),
        (ValueError("/data/db.duckdb: bad"), EXIT_BAD_INPUT, ["/data/db.duckdb: bad"]),
    ],
)
def test_each_failure_names_what_and_where(error, status, words) -> None:
    message, got = describe_error(error, ARGS)
    assert got == status
    for word in words:
        assert word in message


def test_messages_are_one_bounded_line() -> None:
    assert format_message("first\n\n  second  \n") == "first | second"
    long = format_message("x" * 100_000)
    assert len(long) <= MAX_MESSAGE_CHARS and long.endswith("(100000 characters)")


def _raise(error: BaseException):
    def command(args: argparse.Namespace) -> int:
        raise error

    return command


def test_a_traceback_only_with_debug(capsys) -> None:
    assert run_command(_raise(IndexError("boom")), ARGS) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("error: export --db /data/db.duckdb --out x.parquet: IndexError: boom")
    assert "--debug shows the traceback" in err
    assert run_command(_raise(IndexError("boom")), ARGS, debug=True) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "error: export" in err
    assert run_command(_raise(KeyboardInterrupt()), ARGS) == 130


def test_the_command_line_accepts_debug(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.duckdb"
    argv = ["export", "--db", str(missing), "--out", str(tmp_path / "x.parquet")]
    for extra, traceback in (([], False), (["--debug"], True)):
        assert precompute_main([*extra, *argv]) == EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert ("Traceback (most recent call last)" in err) == traceback
        assert f"error: database {missing} does not exist" in err


def test_argparse_refusals_name_the_option(tmp_path: Path, capsys) -> None:
    argv = ["metrics", "--db", str(tmp_path / "db"), "--text-match-threshold", "nan"]
    with pytest.raises(SystemExit) as exit_:
        precompute_main(argv)
    assert exit_.value.code == 2
    assert "argument --text-match-threshold: 'nan' is not a similarity" in capsys.readouterr().err
