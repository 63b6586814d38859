"""Bad input to the `trainui` command: one clear line on stderr, exit 2, no traceback.

Every case runs `python -m trainui.tui.cli` in a process of its own. A fresh interpreter
spends seconds importing torch, more than the checks themselves, so the cases are forked
from one process that imported torch and trainui's engine once; each child then runs the
command line as `__main__` with its own argv, working directory, stdin, stdout and stderr.
`test_forked_cases_match_fresh_processes` checks that this gives what a fresh process gives.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from trainui.core.errors import TrainuiError
from trainui.core.models import mlp
from trainui.core.outcome import ExitCode
from trainui.tui import cli, commands

pytestmark = pytest.mark.slow
FACTORIES = "trainui_test_factories"
FACTORY_SOURCE = '''
def not_a_model(input_shape, num_classes):
    return "a string"


def not_a_dataset(data_dir, seed):
    return 42
'''

TRAIN = ["--headless", "--epochs", "1"]

# Reads a JSON list of cases on stdin, forks one child per case, prints {name: exit code}.
FORK_SERVER = """
import json, os, runpy, sys, traceback
import sklearn.datasets, sklearn.metrics, sklearn.model_selection
import trainui.core.eval_checkpoint, trainui.core.job


def run_case(case):
    os.chdir(case["cwd"])
    sys.path.insert(0, case["pythonpath"])
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(case[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.argv = ["trainui", *case["argv"]]
    try:
        runpy.run_module("trainui.tui.cli", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:  # as the interpreter treats it
        code = exit_.code if isinstance(exit_.code, int) else exit_.code is not None
        if not isinstance(exit_.code, (int, type(None))):
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


children = {}
for case in json.load(sys.stdin):
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        run_case(case)
    children[pid] = case["name"]
codes = {children[pid]: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children}
print(json.dumps(codes))
"""

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


def _device_cases_testable() -> dict[str, bool]:
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


def _argv(name: str, scratch: Path, runs: str = "runs") -> list[str]:
    """The case's arguments; a training case gets a run directory of its own under `runs`."""
    argv = [arg.replace("{dir}", str(scratch)) for arg in CASES[name][0]]
    if "--run-dir" not in argv and argv[0] != "eval":
        argv += ["--run-dir", str(scratch / runs / name)]
    return argv


def run_forked(names: list[str], scratch: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run the cases through FORK_SERVER; return what each child exited with and wrote."""
    streams = scratch / "streams"
    streams.mkdir(exist_ok=True)
    cases: list[dict[str, Any]] = [
        {"name": name, "argv": _argv(name, scratch), "cwd": str(scratch),
         "pythonpath": str(scratch), "stdout": str(streams / f"{name}.out"),
         "stderr": str(streams / f"{name}.err")}
        for name in names
    ]
    server = subprocess.run([sys.executable, "-c", FORK_SERVER], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=300)
    assert server.returncode == 0, server.stderr
    codes = json.loads(server.stdout)
    return {case["name"]: subprocess.CompletedProcess(
        case["argv"], codes[case["name"]], Path(case["stdout"]).read_text(),
        Path(case["stderr"]).read_text()) for case in cases}


@pytest.fixture(scope="module")
def outcomes(scratch: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case this machine can test, run at once."""
    testable = _device_cases_testable()
    return run_forked([name for name in CASES if testable.get(name, True)], scratch)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line(case, outcomes, scratch):
    if case not in outcomes:
        pytest.skip(f"{case}: the device exists on this machine")
    result = outcomes[case]
    fragment = CASES[case][1]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.endswith("\n") and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("trainui: error: ")
    assert fragment in result.stderr
    assert result.returncode == ExitCode.USAGE, result.stderr  # not 1: an unexpected error
    assert not (scratch / "runs" / case / "checkpoints").exists()


def test_pickled_code_is_never_run(outcomes, scratch):
    """The refused checkpoint really carries code: an unsafe load would have run it."""
    result = outcomes["eval-pickled-code"]
    assert "refusing" in result.stderr and "pickled code" in result.stderr
    marker = scratch / "marker"
    assert not marker.exists()
    torch.load(scratch / "pickled-code.pt", weights_only=False)  # what trainui must not do
    assert marker.exists()


def test_forked_cases_match_fresh_processes(outcomes, scratch, trainui_cli,
                                            cli_pool: ThreadPoolExecutor):
    """A fresh `python -m trainui.tui.cli` says and exits exactly what the forked child did."""
    names = ["lr-text", "device-tpu", "eval-pickled-code"]
    fresh = {name: cli_pool.submit(trainui_cli, _argv(name, scratch, "fresh-runs"),
                                   pythonpath=scratch, cwd=scratch) for name in names}
    for name, future in fresh.items():
        result = future.result()
        forked = outcomes[name]
        assert result.returncode == forked.returncode, name
        assert result.stderr == forked.stderr.replace("/runs/", "/fresh-runs/"), name


# --- one line, whatever the message ------------------------------------------------------


@pytest.mark.parametrize("error", [
    TrainuiError("model 'pkg:build' raised ValueError: first line\n  second line"),
    RuntimeError("shapes do not match:\nexpected (1, 8, 8)\ngot (3, 32, 32)"),
], ids=["trainui-error", "unexpected-error"])
def test_multiline_messages_become_one_line(monkeypatch, capsys, error):
    """User code and torch raise multi-line messages; stderr still gets a single line."""
    def fail(_args: object) -> int:
        raise error

    monkeypatch.setattr(commands, "train", fail)
    code = cli.main(["--headless", "--epochs", "1"])
    stderr = capsys.readouterr().err
    assert code == (ExitCode.USAGE if isinstance(error, TrainuiError) else ExitCode.FAILED)
    assert len(stderr.splitlines()) == 1 and stderr.startswith("trainui: error: ")
    assert "second line" in stderr or "got (3, 32, 32)" in stderr
