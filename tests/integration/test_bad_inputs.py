"""Every generated bad input gets a named error, no traceback, and damages nothing.

The corpus (``tests.bad_inputs``) covers options, databases, outputs that are inputs,
read-only folders, vocabularies, prediction files, LAION corpora, ImageNet-Captions and
webdataset labels, sample-id types and concurrent writers. Each case runs through
``precompute.cli.main`` in this process.
"""

from __future__ import annotations

import logging
from collections import Counter

import duckdb
import pytest

from precompute.cli import main as precompute_main
from tests.bad_inputs import Fixtures, generate_bad_inputs, run_bad_input
from tests.laion_corpus import write_laion_corpus

MIN_CASES = 300  # the corpus had 329; fewer would leave categories thin

logger = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Fixtures:
    root = tmp_path_factory.mktemp("bad-inputs")
    corpus = write_laion_corpus(root / "corpus", parts=1, rows_per_part=40)
    db = root / "good" / "db.duckdb"
    assert (
        precompute_main(["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]) == 0
    )
    con = duckdb.connect(str(db), read_only=True)
    sample_id = con.execute("SELECT min(sample_id) FROM samples").fetchone()[0]
    con.close()
    return Fixtures(root=root, db=db, corpus=corpus, sample_id=sample_id)


def test_every_bad_input_gets_a_named_error_and_damages_nothing(fixtures: Fixtures) -> None:
    cases = generate_bad_inputs(fixtures)
    keys = [(c.category, c.name) for c in cases]
    assert len(set(keys)) == len(keys), "case names repeat"
    assert len(cases) >= MIN_CASES
    failures, tally, seconds = [], Counter(), Counter()
    for case in cases:
        outcome = run_bad_input(case, root=fixtures.root)
        tally["tried"] += 1
        tally["named"] += outcome.status != 0 and outcome.named
        tally["tracebacks"] += outcome.traceback
        tally["silent"] += outcome.status == 0
        tally["changed"] += bool(outcome.changed)
        tally["left behind"] += bool(outcome.left_behind)
        seconds[case.category] += outcome.seconds
        if not outcome.passed:
            failures.append(f"[{case.category}] {case.name}: {outcome}")
    logger.warning("bad inputs: %s", dict(tally))
    print(f"\nbad inputs: {dict(tally)}")
    print("seconds per category:", {k: round(v, 1) for k, v in seconds.most_common()})
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)
