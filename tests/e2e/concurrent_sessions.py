"""Browser sessions moving the threshold slider at once while databases are swapped in.

Shared by ``tests/e2e/test_database_swap.py`` (which asserts no failed request and no
exception) and ``benchmarks/bench_concurrent_sessions.py`` (which reports the timing).
Each session opens the Threshold explorer, then presses ArrowRight on the threshold
slider ``presses`` times; an update ends when the page shows the new threshold and a
Dataset size that one of the served databases gives at it. The swaps happen when the
sessions together have made the given numbers of updates.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from laionet_core.selection import DEFAULT_THRESHOLD, THRESHOLD_STEP
from tests.e2e.serving import CHROMIUM_ARGS, dataset_sizes, keep_as_is, stage_variant

UPDATE_TIMEOUT_S = 90.0  # a loaded 2-core machine serving ten browsers is slow
# Ten browsers loading the app at once on such a machine: their first render is slower.
FIRST_RENDER_TIMEOUT_S = 180.0
POLL_S = 0.02


@dataclass
class SessionsReport:
    """What the sessions saw."""

    sessions: int
    updates: int = 0
    swaps: int = 0
    failed_requests: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    update_seconds: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.update_seconds, q)) if self.update_seconds else float("nan")

    def summary(self) -> str:
        return (
            f"sessions={self.sessions} updates={self.updates} swaps={self.swaps} "
            f"failed_requests={len(self.failed_requests)} exceptions={len(self.exceptions)} "
            f"p50={self.percentile(50):.3f}s p95={self.percentile(95):.3f}s"
        )


def thresholds_for(presses: int) -> list[float]:
    """The thresholds the slider passes through, from the default."""
    return [round(DEFAULT_THRESHOLD + i * THRESHOLD_STEP, 3) for i in range(presses + 1)]


async def _metric(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label)
    return await metric.locator('[data-testid="stMetricValue"]').first.inner_text()


async def _wait_for(
    page, threshold: float, sizes: set[str], timeout_s: float = UPDATE_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    want = f"> {threshold:.3f}"
    while True:
        try:
            shown = await _metric(page, "Threshold"), await _metric(page, "Dataset size")
        except Exception:  # the element is being replaced by a rerun: look again
            shown = ("", "")
        if shown[0] == want and shown[1] in sizes:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"threshold {want}: page shows {shown}, expected one of {sizes}")
        await asyncio.sleep(POLL_S)


# Streamlit's frontend first looks for the server under the page's own path (a page
# opened at /threshold_explorer asks /threshold_explorer/_stcore/health, gets 404, then
# asks /_stcore/health): these probes are not failed requests of the app.
BASE_URL_PROBES = ("/_stcore/health", "/_stcore/host-config")


def _is_failed(response, origin: str) -> bool:
    if response.status < 400:
        return False
    path = response.url.removeprefix(origin).split("?")[0]
    probe = path.endswith(BASE_URL_PROBES) and not path.startswith("/_stcore/")
    return not (response.status == 404 and probe)


def _watch(page, report: SessionsReport, origin: str) -> None:
    page.on("requestfailed", lambda r: report.failed_requests.append(f"{r.url} {r.failure}"))
    page.on(
        "response",
        lambda r: (
            report.failed_requests.append(f"{r.url} {r.status}") if _is_failed(r, origin) else None
        ),
    )
    page.on("pageerror", lambda e: report.exceptions.append(f"page error: {e}"))
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith((origin, "data:", "blob:"))
            else report.failed_requests.append(f"outside request {r.url}")
        ),
    )


async def _session(browser, url: str, presses: int, sizes, report, on_update) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    _watch(page, report, url)
    try:
        await page.goto(
            f"{url}/threshold_explorer",
            wait_until="domcontentloaded",
            timeout=FIRST_RENDER_TIMEOUT_S * 1000,
        )
        thresholds = thresholds_for(presses)
        await _wait_for(page, thresholds[0], sizes[thresholds[0]], FIRST_RENDER_TIMEOUT_S)
        slider = page.get_by_role("slider").first
        for threshold in thresholds[1:]:
            await slider.focus()
            start = time.perf_counter()
            await page.keyboard.press("ArrowRight")
            await _wait_for(page, threshold, sizes[threshold])
            report.update_seconds.append(time.perf_counter() - start)
            report.updates += 1
            errors = await page.locator('[data-testid="stException"]').all_inner_texts()
            report.exceptions += [f"exception shown: {text[:300]}" for text in errors]
            on_update()
    except Exception as error:  # a stuck session is a failure to report, not a crash
        try:
            shown = " ".join((await page.locator("body").inner_text(timeout=5_000)).split())
        except Exception:
            shown = "?"
        report.exceptions.append(
            f"session error: {type(error).__name__}: {error}"[:500]
            + f" | at {page.url}: {shown[:300]}"
        )
    finally:
        await context.close()


async def _run(url, chromium, sessions, presses, sizes, swaps) -> SessionsReport:
    from playwright.async_api import async_playwright

    report = SessionsReport(sessions=sessions)
    pending = sorted(swaps.items())

    def on_update() -> None:
        while pending and report.updates >= pending[0][0]:
            _, (staged, target) = pending.pop(0)
            os.replace(staged, target)
            report.swaps += 1

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            await asyncio.gather(
                *(
                    _session(browser, url, presses, sizes, report, on_update)
                    for _ in range(sessions)
                )
            )
        finally:
            await browser.close()
    return report


def drive_sessions(
    url: str,
    chromium: str,
    *,
    sessions: int,
    presses: int,
    sizes: dict[float, set[str]],
    swaps: dict[int, tuple[Path, Path]] | None = None,
) -> SessionsReport:
    """Run ``sessions`` browser sessions at once against the app at ``url``.

    Args:
        sizes: Threshold -> Dataset size texts any served database shows at it.
        swaps: Number of updates made -> (staged file, database path) to rename over it.
    """
    return asyncio.run(_run(url, chromium, sessions, presses, sizes, dict(swaps or {})))


def size_texts(*per_db: dict[float, int]) -> dict[float, set[str]]:
    """Threshold -> the Dataset size texts of each database."""
    return {t: {f"{sizes[t]:,}" for sizes in per_db} for t in per_db[0]}


@dataclass(frozen=True)
class TwoSwaps:
    """What the sessions may see and when the files are swapped in."""

    sizes: dict[float, set[str]]  # threshold -> Dataset size texts of A and B
    swaps: dict[int, tuple[Path, Path]]  # updates made -> (staged file, database path)


def stage_two_swaps(a: Path, b: Path, live: Path, *, sessions: int, presses: int) -> TwoSwaps:
    """Stage B and a rebuild of A (a new file) beside ``live``, to rename over it after a
    third and after two thirds of the ``sessions * presses`` updates.

    Args:
        a: Database A, the one ``live`` starts as.
        b: Database B; it must show another Dataset size than A at every threshold.
    """
    thresholds = thresholds_for(presses)
    sizes = size_texts(dataset_sizes(a, thresholds), dataset_sizes(b, thresholds))
    if not all(len(texts) == 2 for texts in sizes.values()):
        raise ValueError(f"{a} and {b} show the same Dataset size at some threshold: {sizes}")
    to_b, back_to_a = live.with_name("b.staged"), live.with_name("a.staged")
    stage_variant(b, to_b, keep_as_is)
    stage_variant(a, back_to_a, keep_as_is)
    updates = sessions * presses
    return TwoSwaps(sizes, {updates // 3: (to_b, live), 2 * updates // 3: (back_to_a, live)})
