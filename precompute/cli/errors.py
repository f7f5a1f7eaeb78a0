"""The command line's error boundary: every failure becomes one line and an exit status.

Readers and writers raise errors that name the file, column, value or option
(``ValueError``, ``TypeError``, ``FileNotFoundError``, ...). ``run_command`` prints such
a message as one line, ``error: <message>``, and returns ``EXIT_BAD_INPUT``. Anything
else (a bug, a worker killed by the system, an exception nobody named) is the last
resort: its line names the command, its input and output options and the exception,
and the status is ``EXIT_FAILED``. A traceback is printed only with ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import duckdb

EXIT_BAD_INPUT = 2  # the user's input or environment: fix what the message names
EXIT_FAILED = 1  # anything else: the message names the command and its inputs
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
# Longest message printed: a message quoting a huge value must not flood the terminal.
MAX_MESSAGE_CHARS = 2000
# Options whose values are the command's files (argparse dest -> option): messages that
# name none of them get them appended, so every error says which input it is about.
FILE_OPTIONS = {
    "db": "--db",
    "corpus": "--corpus",
    "images": "--images",
    "source": "--from",
    "input": "--input",
    "out": "--out",
    "vocab": "--vocab",
    "work": "--work",
    "synset_embeddings": "--synset-embeddings",
    "images_root": "--images-root",
    "labels": "--labels",
}
# Errors whose message already names what is wrong (raised at the edges).
NAMED_ERRORS = (ValueError, TypeError, FileNotFoundError, TimeoutError)


def format_message(text: str) -> str:
    """``text`` on one line, at most ``MAX_MESSAGE_CHARS`` characters."""
    line = " | ".join(part.strip() for part in str(text).splitlines() if part.strip())
    if len(line) > MAX_MESSAGE_CHARS:
        line = line[: MAX_MESSAGE_CHARS - 30] + f" ... ({len(line)} characters)"
    return line


def describe_inputs(args: argparse.Namespace) -> str:
    """``<command> --db X --out Y ...``: the command and its file options, for messages."""
    parts = [str(getattr(args, "command", "") or "command")]
    parts += [f"{option} {value}" for option, value in list_file_options(args)]
    return " ".join(parts)


def list_file_options(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(option, path)`` of every file option given on the command line."""
    found = []
    for name, option in FILE_OPTIONS.items():
        value = getattr(args, name, None)
        if isinstance(value, str | Path) and str(value):
            found.append((option, str(value)))
    return found


def describe_os_error(error: OSError) -> str:
    """An OSError as ``<what>: <file>``, naming the file when the error holds one."""
    what = error.strerror or str(error) or type(error).__name__
    files = [f for f in (error.filename, error.filename2) if f is not None]
    if not files or any(str(f) in what for f in files):
        return what
    return f"{what}: {' -> '.join(map(str, files))}"


def describe_error(error: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    """The one-line message and exit status of a failed command.

    Args:
        error: What the command raised.
        args: The parsed command line (for the command name and its files).

    Returns:
        ``(message, status)``.
    """
    where = describe_inputs(args)
    if isinstance(error, KeyError):  # its str() is the bare repr of the key
        return f"{where}: no entry {error}", EXIT_BAD_INPUT
    if isinstance(error, NAMED_ERRORS):
        message = str(error) or type(error).__name__
        if isinstance(error, UnicodeDecodeError):
            message = f"a file is not UTF-8 text ({error.reason} at byte {error.start})"
        if not any(path in message for _, path in list_file_options(args)):
            message += f" (in {where})"  # it names no input: say which command and files
        return message, EXIT_BAD_INPUT
    if isinstance(error, BrokenProcessPool):
        return (
            f"{where}: a worker process died (killed, or out of memory); run it again to resume",
            EXIT_FAILED,
        )
    if isinstance(error, PermissionError):
        return f"{where}: permission denied: {describe_os_error(error)}", EXIT_BAD_INPUT
    if isinstance(error, OSError):
        return f"{where}: {describe_os_error(error)}", EXIT_BAD_INPUT
    if isinstance(error, duckdb.Error):
        return f"{where}: database error: {error}", EXIT_BAD_INPUT
    if isinstance(error, EOFError):
        return f"{where}: an input file ended early (truncated?): {error}", EXIT_BAD_INPUT
    if isinstance(error, RecursionError):
        return f"{where}: an input is nested too deeply to read", EXIT_BAD_INPUT
    if isinstance(error, MemoryError):
        return f"{where}: out of memory", EXIT_FAILED
    return f"{where}: {type(error).__name__}: {error}", EXIT_FAILED


def run_command(
    command: Callable[[argparse.Namespace], int | None],
    args: argparse.Namespace,
    *,
    debug: bool = False,
) -> int:
    """Run ``command(args)`` inside the error boundary; returns the exit status.

    Args:
        command: A command module's ``run``.
        args: The parsed command line.
        debug: Print the traceback of a failure too.
    """
    try:
        return int(command(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        message, status = describe_error(error, args)
        if debug:
            traceback.print_exc(file=sys.stderr)
        else:
            message += " (--debug shows the traceback)" if status == EXIT_FAILED else ""
        print(f"error: {format_message(message)}", file=sys.stderr)
        return status
