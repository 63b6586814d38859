"""Bad input to the `trainui` command: one clear line on stderr, exit 2, no traceback.

Every case runs the real command in its own process. Most import torch (seconds each), so a
module fixture starts them all at once on a thread pool and each test waits for its own.
"""

from __future__ import annotations

import os
import random
import subprocess
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from trainui.core.errors import TrainuiError
from trainui.core.models import mlp
from trainui.tui import cli

EXIT_USAGE = 2  # trainui's exit code for bad input; 1 would mean an unexpected exception

FACTORIES = "trainui_test_factories"
FACTORY_SOURCE = '''
def not_a_model(input_shape, num_classes):
    return "a string"


def not_a_dataset(data_dir, seed):
    return 42
'''

TRAIN = ["--headless", "--epochs", "1"]

# name -> (arguments after `trainui`, a fragment the error line must contain). `{dir}` is a
# scratch folder holding the factory module and the crafted checkpoints.
CASES: dict[str, tuple[list[str], str]] = {
    "epochs-zero": (["--epochs", "0"], "--epochs"),
    "epochs-negative": (["--epochs", "-1"], "--epochs"),
    "epochs-text": (["--epochs", "abc"], "--epochs"),
    "batch-size-zero": (["--batch-size", "0"], "--batch-size"),
    "batch-size-negative": (["--batch-size", "-1"], "--batch-size"),
    "batch-size-text": (["--batch-size", "abc"], "--batch-size"),
    "lr-zero": (["--lr", "0"], "--lr"),
    "lr-negative": (["--lr", "-1"], "--lr"),
    "lr-text": (["--lr", "abc"], "--lr"),
    "unknown-optimizer": ([*TRAIN, "--optimizer", "adamax"], "adamax"),
    "unknown-scheduler": ([*TRAIN, "--scheduler", "warmup"], "warmup"),
    "unknown-amp": ([*TRAIN, "--amp", "fp8"], "fp8"),
    "unknown-dataset": ([*TRAIN, "--dataset", "imagenet"], "unknown data set 'imagenet'"),
    "unknown-model": ([*TRAIN, "--model", "vgg99"], "unknown model 'vgg99'"),
    "model-module-missing": ([*TRAIN, "--model", "trainui_test_nowhere:build"],
                             "cannot import module 'trainui_test_nowhere'"),
    "model-attribute-missing": ([*TRAIN, "--model", f"{FACTORIES}:nothing"],
                                "has no attribute 'nothing'"),
    "model-returns-wrong-type": ([*TRAIN, "--model", f"{FACTORIES}:not_a_model"],
                                 "expected a torch.nn.Module"),
    "dataset-module-missing": ([*TRAIN, "--dataset", "trainui_test_nowhere:build"],
                               "cannot import module 'trainui_test_nowhere'"),
    "dataset-attribute-missing": ([*TRAIN, "--dataset", f"{FACTORIES}:nothing"],
                                  "has no attribute 'nothing'"),
    "dataset-returns-wrong-type": ([*TRAIN, "--dataset", f"{FACTORIES}:not_a_dataset"],
                                   "returned an int"),
    "mnist-without-data-dir": ([*TRAIN, "--dataset", "mnist"], "--data-dir"),
    "device-cuda": ([*TRAIN, "--device", "cuda"], "'cuda'"),
    "device-cuda-7": ([*TRAIN, "--device", "cuda:7"], "'cuda:7'"),
    "device-mps": ([*TRAIN, "--device", "mps"], "'mps'"),
    "device-tpu": ([*TRAIN, "--device", "tpu"], "unknown device 'tpu'"),
    "run-dir-under-a-file": ([*TRAIN, "--run-dir", "{dir}/a-file/run"],
                             "cannot write run directory"),
    "eval-missing": (["eval", "{dir}/absent.pt"], "checkpoint not found"),
    "eval-truncated": (["eval", "{dir}/truncated.pt"], "truncated or corrupt"),
    "eval-random-bytes": (["eval", "{dir}/random.pt"], "truncated or corrupt"),
    "eval-other-model": (["eval", "{dir}/mlp.pt", "--model", "cnn"],
                         "does not fit model 'cnn'"),
    "eval-pickled-code": (["eval", "{dir}/pickled-code.pt"], "refusing to load"),
}


def _unavailable() -> dict[str, bool]:
    """Which device cases this machine can test: the device must really be missing."""
    mps = getattr(torch.backends, "mps", None)
    return {
        "device-cuda": not torch.cuda.is_available(),
        "device-cuda-7": torch.cuda.device_count() <= 7,
        "device-mps": not (mps is not None and mps.is_available()),
    }


class _RunsCode:
    """Pickles as a call to os.system: loading it unsafely would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch '{self.marker}'",)


def _write_inputs(folder: Path) -> None:
    """The factory module, a regular file to nest a run dir under, and bad checkpoints."""
    (folder / f"{FACTORIES}.py").write_text(textwrap.dedent(FACTORY_SOURCE))
    (folder / "a-file").write_text("not a directory\n")
    weights = mlp((1, 8, 8), 10).state_dict()
    torch.save({"model_state_dict": weights, "config": {"model": "mlp", "dataset": "digits"}},
               folder / "mlp.pt")
    whole = (folder / "mlp.pt").read_bytes()
    (folder / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    (folder / "random.pt").write_bytes(random.Random(7).randbytes(4096))
    torch.save({"model_state_dict": weights, "payload": _RunsCode(folder / "marker")},
               folder / "pickled-code.pt")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-errors")
    _write_inputs(folder)
    return folder


@pytest.fixture(scope="module")
def outcomes(
    scratch: Path, trainui_cli, cli_pool: ThreadPoolExecutor
) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    """Every case started at once; training cases get a run dir of their own."""
    skipped = {name for name, testable in _unavailable().items() if not testable}
    futures = {}
    for name, (args, _) in CASES.items():
        if name in skipped:
            continue
        argv = [arg.replace("{dir}", str(scratch)) for arg in args]
        if "--run-dir" not in argv and argv[0] != "eval":
            argv += ["--run-dir", str(scratch / "runs" / name)]
        futures[name] = cli_pool.submit(trainui_cli, argv, pythonpath=scratch, cwd=scratch)
    return futures


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line(case, outcomes, scratch):
    if case not in outcomes:
        pytest.skip(f"{case}: the device exists on this machine")
    result = outcomes[case].result()
    fragment = CASES[case][1]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.endswith("\n") and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("trainui: error: ")
    assert fragment in result.stderr
    assert result.returncode == EXIT_USAGE, result.stderr
    assert not (scratch / "runs" / case / "checkpoints").exists()


def test_pickled_code_is_never_run(outcomes, scratch):
    """The refused checkpoint really carries code: an unsafe load would have run it."""
    result = outcomes["eval-pickled-code"].result()
    assert "refusing" in result.stderr and "pickled code" in result.stderr
    marker = scratch / "marker"
    assert not marker.exists()
    torch.load(scratch / "pickled-code.pt", weights_only=False)  # what trainui must not do
    assert marker.exists()


# --- one line, whatever the message ------------------------------------------------------


@pytest.mark.parametrize("error", [
    TrainuiError("model 'pkg:build' raised ValueError: first line\n  second line"),
    RuntimeError("shapes do not match:\nexpected (1, 8, 8)\ngot (3, 32, 32)"),
], ids=["trainui-error", "unexpected-error"])
def test_multiline_messages_become_one_line(monkeypatch, capsys, error):
    """User code and torch raise multi-line messages; stderr still gets a single line."""
    def fail(_args: object) -> int:
        raise error

    monkeypatch.setattr(cli, "_train", fail)
    code = cli.main(["--headless", "--epochs", "1"])
    stderr = capsys.readouterr().err
    assert code == (EXIT_USAGE if isinstance(error, TrainuiError) else 1)
    assert len(stderr.splitlines()) == 1 and stderr.startswith("trainui: error: ")
    assert "second line" in stderr or "got (3, 32, 32)" in stderr
