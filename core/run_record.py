"""What a trainer writes as it trains (events.jsonl, summary.json), and opening a run for it.

Torch-free, so the trainer process can take the run's lock and say "importing torch" in
events.jsonl before the slow imports begin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig
from .errors import TrainuiError
from .event_file import EVENT_LOG, EventLogSink, Written
from .events import Event
from .run_dir import RunLock, check_run_dir, read_config
from .run_summary import RunSummarySink, load_summary


class RunRecord:
    """The sink that records a run: events.jsonl, and summary.json kept current from it."""

    def __init__(self, run_dir: Path) -> None:
        self.summary = load_summary(run_dir)  # a resumed run continues its summary
        self._summary_sink = RunSummarySink(run_dir, self.summary)
        self._listeners: list[Written] = [self._summary_sink.written]
        self._log = EventLogSink(run_dir / EVENT_LOG, on_written=self._written)

    def __call__(self, event: Event) -> None:
        self._log(event)

    def listen(self, listener: Written) -> None:
        """Tell `listener` of each later line written to events.jsonl, as a reader of the
        file will see it (after the summary is told)."""
        self._listeners.append(listener)

    def _written(self, event: Event, offset: int) -> None:
        for listener in self._listeners:
            listener(event, offset)

    def close(self) -> None:
        """Write what is held back, then the summary, and wait until both are on disk (the
        summary tried even if the first fails)."""
        try:
            self._log.close()
        finally:
            self._summary_sink.close()


@dataclass
class OpenedRun:
    """A run directory a trainer holds: its lock, its checked config, its record."""

    run_dir: Path
    config: RunConfig
    lock: RunLock
    record: RunRecord
    closed: bool = False

    def close(self) -> None:
        """Finish the record and let go of the lock (once)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.record.close()
        finally:
            self.lock.release()


def open_run(run_dir: Path, *, resume: bool) -> OpenedRun:
    """Lock a run directory to train it: a prepared new run, or one to resume.

    Raises TrainuiError for a directory that is not a trainui run, one another process
    trains, a bad config.json, or (without `resume`) a run that has started already.
    """
    action = "resume" if resume else "train"
    check_run_dir(run_dir, action)
    lock = RunLock(run_dir)
    try:
        config = read_config(run_dir, action)
        if not resume and load_summary(run_dir).sessions:  # before touching its log
            raise TrainuiError(f"run {run_dir} has started already (continue it with "
                               f"--resume {run_dir})")
        record = RunRecord(run_dir)
    except BaseException:
        lock.release()
        raise
    return OpenedRun(run_dir, config, lock, record)
