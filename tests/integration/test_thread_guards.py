"""No thread dies silently (issue 12.4): an unexpected failure in the settle loop or in an upload worker is
logged and shown on the board under its own key, the thread stays alive, and later files are still backed
up. Real watchdog, real SQLite, a real folder destination; only the failure itself is injected."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from helpers import backed_up_files, wait_for, write_random

from zoomwatch.app import Engine, ProblemKey
from zoomwatch.app import watching as settle_thread
from zoomwatch.core import transfer
from zoomwatch.core.catalog import Catalog
from zoomwatch.core.transfer import RetryPolicy
from zoomwatch.sources.local import Settler

MEETING = "2024-01-15 10.00.00 Weekly sync 84512345678"


@pytest.fixture
def engine(app) -> Iterator[Engine]:
    made = Engine(app.load(), retry=RetryPolicy(base=0.2, cap=1.0))
    made.acquire()
    try:
        yield made
    finally:
        made.stop()
        made.close()


def alive(name: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(name) and t.is_alive()]


def keys(engine: Engine) -> set[str]:
    return {p.key for p in engine.snapshot().problems}


def test_a_failure_in_the_settle_loop_is_shown_and_watching_goes_on(app, engine, monkeypatch):
    # the settle thread reads THREAD_RETRY_SECONDS in zoomwatch/app/watching.py: patched anywhere else it does nothing
    assert "THREAD_RETRY_SECONDS" in settle_thread.settle_main.__code__.co_names
    monkeypatch.setattr(settle_thread, "THREAD_RETRY_SECONDS", (0.3, 1.0))
    real_scan = Settler.scan
    failures = []

    def scan_failing_once(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("injected failure in the scan")
        return real_scan(self, *args, **kwargs)

    monkeypatch.setattr(Settler, "scan", scan_failing_once)
    engine.start()
    problem = wait_for(lambda: next((p for p in engine.snapshot().problems if p.key == ProblemKey.SETTLE_THREAD),
                                    None), what="the settle loop's failure to be shown")
    assert problem.title == "Watching the Zoom folder failed" and "RuntimeError" in problem.message
    assert "tries again in 0 s" in problem.message  # the patched delay (0.3 s), not the default 5 s
    assert alive("zoomwatch-settle"), "the settle thread must not die"
    write_random(app.zoom / MEETING / "zoom_0.mp4", 20_000)
    wait_for(lambda: backed_up_files(app.backup), what="a file written later to be backed up")
    wait_for(lambda: ProblemKey.SETTLE_THREAD not in keys(engine), what="the problem to clear once watching works")
    assert alive("zoomwatch-settle")


def test_a_failure_in_an_upload_worker_is_shown_and_the_worker_goes_on(app, engine, monkeypatch):
    monkeypatch.setattr(transfer, "WORKER_RETRY_SECONDS", 0.3)
    real_claim = Catalog.claim
    failures = []

    def claim_failing_once(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("injected failure in the catalog")
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "claim", claim_failing_once)
    workers = int(app.load()["transfer.workers"])
    engine.start()
    wait_for(lambda: ProblemKey.UPLOAD_WORKER in keys(engine), what="the worker's failure to be shown")
    assert len(alive("zoomwatch-upload-")) == workers, "no upload worker may die"
    write_random(app.zoom / MEETING / "zoom_0.mp4", 20_000)
    wait_for(lambda: backed_up_files(app.backup), what="a file written later to be backed up")
    wait_for(lambda: ProblemKey.UPLOAD_WORKER not in keys(engine), what="the problem to clear once a file got through")
    assert len(alive("zoomwatch-upload-")) == workers
