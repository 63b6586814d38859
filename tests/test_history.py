"""Per-epoch history and its CSV."""

from __future__ import annotations

from trainui.core.history import EPOCH_KEYS, History


def test_history_rows_and_csv() -> None:
    history = History()
    row = dict.fromkeys(EPOCH_KEYS, 0.5) | {"epoch": 1}
    history.record_epoch(row)
    assert len(history) == 1 and history["val_loss"] == [0.5]
    lines = history.to_csv().splitlines()
    assert lines[0] == ",".join(EPOCH_KEYS)
    assert lines[1].startswith("1,0.5,")
