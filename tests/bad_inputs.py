"""A generated corpus of bad inputs to the command line, and the checks each must pass.

``generate_bad_inputs`` writes the bad files (``tests.bad_input_files``) and returns one
``BadInput`` per case: a command line, the words of which the error must name at
least one (the file, column, value or option), and the files that must be byte for
byte unchanged or must not exist afterwards. ``run_bad_input`` runs a case through
``precompute.cli.main`` in this process and reports an ``Outcome``; a case passes when
the command exits non-zero with one named error line, no traceback, and nothing
damaged or left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from precompute.cli import main as precompute_main
from tests import bad_input_files as files

TEMPORARY_MARKERS = (".tmp", "tmp-")  # names of partial outputs (atomic writes, shards)
PROC_FOLDER = "/proc"  # a folder nobody may write, not even root


@dataclass(frozen=True)
class BadInput:
    """One bad command line.

    Attributes:
        category: What kind of input is bad (for the tally).
        name: The case, unique within its category.
        argv: The command line, without ``python -m precompute``.
        names: The error line must contain at least one of these.
        guarded: Files that must be byte-identical afterwards.
        absent: Paths that must not exist afterwards (outputs of the failed run).
        holding: Context manager factory held around the run (a lock, a connection).
    """

    category: str
    name: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    guarded: tuple[Path, ...] = ()
    absent: tuple[Path, ...] = ()
    holding: Callable[[], contextlib.AbstractContextManager] | None = None


@dataclass
class Outcome:
    """What one case did."""

    status: int
    error: str
    traceback: bool
    named: bool
    changed: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Non-zero, named, no traceback, nothing changed or left behind."""
        return (
            self.status != 0
            and self.named
            and not self.traceback
            and not self.changed
            and not self.left_behind
        )


def _digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _temporaries(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if any(m in p.name for m in TEMPORARY_MARKERS)}


class _TracebackRecords(logging.Handler):
    """Counts log records that carry a traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += bool(record.exc_info or record.stack_info)


def run_bad_input(case: BadInput, *, root: Path) -> Outcome:
    """Run ``case`` in this process and check what it did (``root``: scanned for leftovers)."""
    started = time.perf_counter()
    before = {p: _digest(p) for p in case.guarded}
    temporaries = _temporaries(root)
    stderr, records = io.StringIO(), _TracebackRecords()
    logging.getLogger().addHandler(records)
    try:
        with contextlib.redirect_stderr(stderr), (case.holding or contextlib.nullcontext)():
            try:
                status = precompute_main(list(case.argv))
            except SystemExit as exit_:  # argparse refuses the command line
                status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        logging.getLogger().removeHandler(records)
    text = stderr.getvalue()
    lines = [line for line in text.splitlines() if line.startswith(("error:", "python -m"))]
    error = next((line for line in lines if "error:" in line), text.strip()[-300:])
    return Outcome(
        status=status,
        error=error,
        traceback="Traceback (most recent call last)" in text or records.count > 0,
        named=any(word in error for word in case.names),
        changed=[str(p) for p in case.guarded if _digest(p) != before[p]],
        left_behind=sorted(
            [str(p) for p in case.absent if p.exists()] + list(_temporaries(root) - temporaries)
        ),
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class Fixtures:
    """What the cases are built on: a good database and a good corpus."""

    root: Path
    db: Path
    corpus: Path
    sample_id: str


def _option_cases(fx: Fixtures) -> Iterator[BadInput]:
    db = str(fx.db)
    out = fx.root / "out.parquet"
    thresholds = ("nan", "inf", "-inf", "abc", "", "2", "-7", "1e999", "0x10", "1,5", " ")
    commands = {
        "export --threshold": ["export", "--db", db, "--out", str(out), "--threshold"],
        "metrics --threshold": ["metrics", "--db", db, "--threshold"],
        "metrics --text-match-threshold": ["metrics", "--db", db, "--text-match-threshold"],
        "text-match --threshold": ["text-match", "--db", db, "--threshold"],
        "build --embedding-floor": [
            "build", "--corpus", str(fx.corpus), "--db", str(fx.root / "floor.duckdb"),
            "--workers", "1", "--embedding-floor",
        ],
    }  # fmt: skip
    for label, argv in commands.items():
        option = label.split()[1]
        for value in thresholds:
            yield BadInput(
                "threshold", f"{label} {value!r}", (*argv, value), (option, "threshold"),
                guarded=(fx.db,), absent=(out, fx.root / "floor.duckdb"),
            )  # fmt: skip
    names = ("", "   ", "tab\there", "\x1b[31mred", "x" * 300)
    name_options = {
        "add-predictions --model": ["add-predictions", "--db", db, "--simulate", "--model"],
        "add-predictions --dataset": [
            "add-predictions", "--db", db, "--simulate", "--model", "m", "--dataset",
        ],
        "add-predictions --fit-dataset": [
            "add-predictions", "--db", db, "--simulate", "--model", "m", "--fit-dataset",
        ],
        "export --dataset": ["export", "--db", db, "--out", str(out), "--dataset"],
        "build --dataset": ["build", "--corpus", str(fx.corpus), "--db", db, "--dataset"],
        "text-match --name": ["text-match", "--db", db, "--name"],
        "add-reference --name": [
            "add-reference", "--db", db, "--kind", "imagenet-captions", "--images",
            str(fx.root), "--model", "ViT-B-32", "--name",
        ],
    }  # fmt: skip
    for label, argv in name_options.items():
        for value in names:
            yield BadInput(
                "name", f"{label} {value[:12]!r}", (*argv, value), (label.split()[1],),
                guarded=(fx.db,), absent=(out,),
            )  # fmt: skip
    counts = ("0", "-1", "x", "1.5", str(10**20))
    count_options = {
        "build --workers": ["build", "--corpus", str(fx.corpus), "--db", db, "--workers"],
        "match --workers": ["match", "--input", str(fx.corpus / "metadata" / "*.parquet"),
                            "--out", str(out), "--workers"],
        "add-reference --workers": [
            "add-reference", "--db", db, "--name", "r", "--kind", "imagenet-captions",
            "--images", str(fx.root), "--model", "ViT-B-32", "--workers",
        ],
        "add-reference --batch-size": [
            "add-reference", "--db", db, "--name", "r", "--kind", "imagenet-captions",
            "--images", str(fx.root), "--model", "ViT-B-32", "--batch-size",
        ],
        "text-match --nlist": ["text-match", "--db", db, "--nlist"],
        "text-match --nprobe": ["text-match", "--db", db, "--nprobe"],
        "text-match --recall-sample": ["text-match", "--db", db, "--recall-sample"],
    }  # fmt: skip
    for label, argv in count_options.items():
        for value in counts:
            yield BadInput(
                "count", f"{label} {value}", (*argv, value), (label.split()[1],),
                guarded=(fx.db,), absent=(out,),
            )  # fmt: skip
    choices = {
        "export --format": ["export", "--db", db, "--out", str(out), "--format", "xls"],
        "build --mode": ["build", "--corpus", str(fx.corpus), "--db", db, "--mode", "x"],
        "build --synset-format": ["build", "--corpus", str(fx.corpus), "--synset-format", "x"],
        "build --executor": ["build", "--corpus", str(fx.corpus), "--executor", "slurm"],
        "add-reference --kind": ["add-reference", "--db", db, "--name", "r", "--kind", "x",
                                 "--images", str(fx.root)],
        "text-match --index": ["text-match", "--db", db, "--index", "hnsw"],
        "build --ray-address": ["build", "--corpus", str(fx.corpus), "--db", db,
                                "--ray-address", "ray://nowhere:1"],
        "add-reference no model": ["add-reference", "--db", db, "--name", "r", "--kind",
                                   "imagenet-captions", "--images", str(fx.root)],
        "add-reference two models": ["add-reference", "--db", db, "--name", "r", "--kind",
                                     "imagenet-captions", "--images", str(fx.root),
                                     "--model", "ViT-B-32", "--encoder", "open_clip:RN50"],
    }  # fmt: skip
    for label, argv in choices.items():
        names = (label.split()[1], "--model", "--ray-address")
        yield BadInput("choice", label, tuple(argv), names, guarded=(fx.db,))
    demo = ["demo", "--corpus", str(fx.root / "demo-corpus"), "--db", str(fx.root / "demo.db")]
    for option, values in {"--captions": ("0", "-5", "x"), "--parts": ("0", "x"),
                           "--seed": ("-1", "x")}.items():  # fmt: skip
        for value in values:
            yield BadInput(
                "count", f"demo {option} {value}", (*demo, option, value), (option, value),
                absent=(fx.root / "demo.db", fx.root / "demo-corpus"),
            )  # fmt: skip
    for command in ("export", "metrics", "add-predictions", "text-match", "add-reference"):
        yield BadInput("missing option", command, (command,), ("--db", "required"))
    yield BadInput("missing option", "no command", (), ("COMMAND", "required"))
    yield BadInput("missing option", "unknown command", ("frobnicate",), ("frobnicate",))


def _database_cases(fx: Fixtures) -> Iterator[BadInput]:
    bad = files.write_bad_databases(fx.root / "databases", fx.db)
    predictions = fx.root / "one-prediction.csv"
    header = "sample_id,pred_1,pred_2,pred_3,pred_4,pred_5\n"
    row = f"{fx.sample_id},n02125311,n01440764,n01443537,n01484850,n01491361\n"
    predictions.write_text(header + row, encoding="utf-8")
    for name, path in bad.items():
        out = fx.root / f"export-{name}.parquet"
        commands = {
            "export": ["export", "--db", str(path), "--out", str(out)],
            "metrics": ["metrics", "--db", str(path)],
            "add-predictions --from": [
                "add-predictions", "--db", str(path), "--model", "m", "--from", str(predictions),
            ],
            "add-predictions --simulate": [
                "add-predictions", "--db", str(path), "--model", "m", "--simulate",
            ],
            "text-match": ["text-match", "--db", str(path)],
            "add-reference": [
                "add-reference", "--db", str(path), "--name", "r", "--kind",
                "imagenet-captions", "--images", str(predictions), "--model", "ViT-B-32",
            ],
        }  # fmt: skip
        for label, argv in commands.items():
            yield BadInput(
                "database", f"{label} on a {name} --db", tuple(argv), (str(path),),
                guarded=(path, predictions), absent=(out,),
            )  # fmt: skip


def generate_bad_inputs(fx: Fixtures) -> list[BadInput]:
    """Every case of the corpus (writes its files under ``fx.root``)."""
    from tests.bad_inputs_more import file_cases

    return [*_option_cases(fx), *_database_cases(fx), *file_cases(fx)]
