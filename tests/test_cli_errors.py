"""Bad input to the `trainui` command: one clear line on stderr, exit 2, no traceback.

Every case runs `python -m trainui.tui.cli` in a process of its own. A fresh interpreter
spends seconds importing torch, more than the checks themselves, so the cases are forked
from one process that imported torch and trainui's engine once; each child then runs the
command line's `main` with its own argv, working directory, stdin, stdout and stderr.
`test_forked_cases_match_fresh_processes` checks that this gives what a fresh process gives.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from other_user import NOBODY
from trainui.core.checkpoint import FORMAT, FORMAT_VERSION
from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.models import mlp
from trainui.core.outcome import ExitCode
from trainui.core.run_dir import create_run_dir
from trainui.tui import cli, commands

pytestmark = pytest.mark.slow
FACTORIES = "trainui_test_factories"
FACTORY_SOURCE = '''
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

CLASSES = ["a", "b", "c"]


def not_a_model(input_shape, num_classes):
    return "a string"


def not_a_dataset(data_dir, seed):
    return 42


def too_many_outputs(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(4, num_classes + 2))


def _tensors(count, label=None, seed=0):
    generator = torch.Generator().manual_seed(seed)
    if label is None:
        labels = torch.randint(0, 3, (count,), generator=generator)
    else:
        labels = torch.full((count,), label)
    return TensorDataset(torch.randn(count, 4, generator=generator), labels)


class Items(Dataset):
    """No labels at hand: only reading every item would find a bad one."""

    def __init__(self, count, odd_index, odd_item):
        self.count, self.odd_index, self.odd_item = count, odd_index, odd_item

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if index >= self.odd_index:
            return self.odd_item
        return torch.zeros(4), index % 3


def val_labels_out_of_range(data_dir, seed):
    return _tensors(64), _tensors(32, label=7), _tensors(32), CLASSES


def train_label_negative(data_dir, seed):
    return _tensors(64, label=-1), _tensors(32), _tensors(32), CLASSES


def late_val_label_out_of_range(data_dir, seed):
    return _tensors(64), Items(100, 90, (torch.zeros(4), 9)), _tensors(32), CLASSES


def empty_val(data_dir, seed):
    return _tensors(64), _tensors(0), _tensors(32), CLASSES


def empty_test(data_dir, seed):
    return _tensors(64), _tensors(32), _tensors(0), CLASSES


def mixed_shapes_early(data_dir, seed):
    return Items(64, 3, (torch.zeros(5), 0)), _tensors(32), _tensors(32), CLASSES


def mixed_shapes_late(data_dir, seed):
    return Items(200, 100, (torch.zeros(5), 0)), _tensors(32), _tensors(32), CLASSES


def mixed_shapes_late_in_test(data_dir, seed):
    return _tensors(64), _tensors(32), Items(200, 100, (torch.zeros(5), 0)), CLASSES
'''

TRAIN = ["--headless", "--epochs", "1"]
RESUME = ["--headless", "--resume"]

# Reads a JSON list of cases on stdin, forks one child per case, prints {name: exit code}.
FORK_SERVER = """
import json, os, sys, traceback
import sklearn.datasets, sklearn.metrics, sklearn.model_selection
from other_user import preload_trainui
preload_trainui()
import trainui.themes
from trainui.tui.cli import main
trainui.themes.load_theme("dark")

def run_case(case):
    os.chdir(case["cwd"])
    sys.path.insert(0, case["pythonpath"])
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(case[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    if case["uid"] is not None:  # another user: the streams are open already
        os.setgroups([])
        os.setgid(case["uid"])
        os.setuid(case["uid"])
    sys.argv = ["trainui", *case["argv"]]
    try:
        code = main(case["argv"])
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
    # Numbers past what trainui can train with.
    "lr-huge": ([*TRAIN, "--lr", "1e308"], "--lr: must be at most 1000"),
    "weight-decay-huge": ([*TRAIN, "--weight-decay", "1e308"], "--weight-decay: must be at most"),
    "batch-size-huge": ([*TRAIN, "--batch-size", "99999999999999999999"],
                        "--batch-size: must be at most 2147483647"),
    "eval-batch-size-huge": (["eval", "{dir}/mlp.pt", "--batch-size", "99999999999999999999"],
                             "--batch-size: must be at most 2147483647"),
    "num-workers-huge": ([*TRAIN, "--num-workers", "100000"],
                         "--num-workers: must be at most"),
    "amp-fp16-on-cpu": ([*TRAIN, "--amp", "fp16", "--device", "cpu", "--model", "mlp"],
                        "--amp fp16 needs a GPU"),
    # Where a new run may go, and what --resume accepts.
    "run-dir-not-empty": ([*TRAIN, "--run-dir", "{dir}/users-folder"], "is not empty"),
    "resume-missing": ([*RESUME, "{dir}/nope"], "no such directory"),
    "resume-a-file": ([*RESUME, "{dir}/a-file"], "not a directory"),
    "resume-not-a-run": ([*RESUME, "{dir}/not-a-run"], "not a trainui run directory"),
    "resume-config-array": ([*RESUME, "{dir}/config-array"], "JSON object, not an array"),
    "resume-epochs-1e400": ([*RESUME, "{dir}/epochs-1e400"],
                            "epochs must be an integer, got Infinity"),
    "resume-epochs-2.5": ([*RESUME, "{dir}/epochs-2.5"], "epochs must be an integer, got 2.5"),
    "resume-epochs-true": ([*RESUME, "{dir}/epochs-true"], "epochs must be an integer, got true"),
    "resume-workers-of-a-bigger-machine": ([*RESUME, "{dir}/workers-100000"],
                                           "num workers must be at most"),
    "resume-plain-state-dict": ([*RESUME, "{dir}/plain-last"], "not a full trainui checkpoint"),
    "resume-nan-weights": ([*RESUME, "{dir}/nan-last"], "holds NaN or infinite values"),
    "resume-fp16-on-cpu": ([*RESUME, "{dir}/fp16-cpu"], "--amp fp16 needs a GPU"),
    "resume-control-is-a-link": ([*RESUME, "{dir}/control-link"], "is a symbolic link"),
    # Checkpoints that are not what they seem.
    "eval-nan-weights": (["eval", "{dir}/nan.pt"], "holds NaN or infinite values"),
    "eval-plain-pickle": (["eval", "{dir}/plain-pickle.pt"], "is a plain pickle file"),
    "eval-pickle-protocol-2": (["eval", "{dir}/pickle-protocol-2.pt"], "refusing to load"),
    "eval-output-a-directory": (["eval", "{dir}/mlp.pt", "--output", "{dir}"],
                                "is a directory"),
    "eval-output-no-folder": (["eval", "{dir}/mlp.pt", "--output", "{dir}/nowhere/m.json"],
                              "no such directory"),
    # Data and model that cannot train together: found before the first step...
    "model-outputs-not-classes": ([*TRAIN, "--dataset", f"{FACTORIES}:val_labels_out_of_range",
                                   "--model", f"{FACTORIES}:too_many_outputs"], "(32, 5)"),
    "val-labels-out-of-range": ([*TRAIN, "--dataset", f"{FACTORIES}:val_labels_out_of_range",
                                 "--model", "mlp"], "validation split has label 7"),
    "train-label-negative": ([*TRAIN, "--dataset", f"{FACTORIES}:train_label_negative",
                              "--model", "mlp"], "training split has label -1"),
    "empty-val": ([*TRAIN, "--dataset", f"{FACTORIES}:empty_val", "--model", "mlp"],
                  "the validation split is empty"),
    "empty-test": ([*TRAIN, "--dataset", f"{FACTORIES}:empty_test", "--model", "mlp"],
                   "the test split is empty"),
    "mixed-shapes-early": ([*TRAIN, "--dataset", f"{FACTORIES}:mixed_shapes_early",
                            "--model", "mlp"], "do not form a batch: inputs of different shapes"),
    # ... or, where no cheap look could see them, put into words when they surface.
    "mixed-shapes-late": ([*TRAIN, "--dataset", f"{FACTORIES}:mixed_shapes_late",
                           "--model", "mlp", "--batch-size", "16"],
                          "training stopped on bad data: inputs of different shapes ([4] and [5])"),
    "mixed-shapes-late-in-a-worker": ([*TRAIN, "--dataset", f"{FACTORIES}:mixed_shapes_late",
                                       "--model", "mlp", "--batch-size", "16",
                                       "--num-workers", "1"],
                                      "training stopped on bad data: inputs of different shapes"),
    "eval-mixed-shapes-late": (["eval", "{dir}/mlp-4-3.pt", "--model", "mlp", "--dataset",
                                f"{FACTORIES}:mixed_shapes_late_in_test", "--batch-size", "16"],
                               "evaluation stopped on bad data: inputs of different shapes"),
    "late-val-label-out-of-range": ([*TRAIN, "--dataset",
                                     f"{FACTORIES}:late_val_label_out_of_range", "--model", "mlp"],
                                    "training stopped on bad data: label 9 is out of range"),
    # Another user's run: refused as such, never a traceback.
    "other-user-evals": (["eval", "{dir}/closed-run/checkpoints/last.pt"], "permission denied"),
    "other-user-watches": (["watch", "{dir}/closed-run"], "cannot watch"),
    "other-user-resumes": ([*RESUME, "{dir}/closed-run"], "cannot resume"),
    "other-user-eval-output": (["eval", "{dir}/mlp.pt", "--output", "{dir}/closed/m.json"],
                               "is not writable"),
}
AS_ANOTHER_USER = {name for name in CASES if name.startswith("other-user-")}


def _cases_testable() -> dict[str, bool]:
    """Which cases this machine can test: a device must really be missing, and acting as
    another user takes root."""
    mps = getattr(torch.backends, "mps", None)
    return {
        "device-cuda": not torch.cuda.is_available(),
        "device-cuda-7": torch.cuda.device_count() <= 7,
        "device-mps": not (mps is not None and mps.is_available()),
        **{name: os.getuid() == 0 for name in AS_ANOTHER_USER},
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
    torch.save(mlp((4,), 3).state_dict(), folder / "mlp-4-3.pt")
    whole = (folder / "mlp.pt").read_bytes()
    (folder / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    (folder / "random.pt").write_bytes(random.Random(7).randbytes(4096))
    torch.save({"model_state_dict": weights, "payload": _RunsCode(folder / "marker")},
               folder / "pickled-code.pt")
    _write_checkpoints(folder, weights)
    _write_run_dirs(folder, weights)
    users = folder / "users-folder"  # someone's folder, open to all, holding their file
    users.mkdir()
    (users / "metrics.json").write_text("mine\n")
    users.chmod(0o1777)
    (folder / "closed").mkdir(mode=0o755)  # another user may look, not write


def _write_checkpoints(folder: Path, weights: dict[str, torch.Tensor]) -> None:
    """Checkpoints that torch reads without a word but trainui must refuse."""
    poisoned = folder / "nan.pt"
    _with_nan_weights(folder / "mlp.pt", poisoned)
    assert zipfile.ZipFile(poisoned).testzip() is None  # a valid zip, every CRC right
    assert torch.load(poisoned, weights_only=True)["model_state_dict"]["1.weight"].isnan().all()
    with open(folder / "plain-pickle.pt", "wb") as handle:
        pickle.dump({name: tensor.numpy() for name, tensor in weights.items()}, handle)
    with open(folder / "pickle-protocol-2.pt", "wb") as handle:  # tensors, plain pickle
        pickle.dump({"model_state_dict": weights}, handle, protocol=2)


def _with_nan_weights(source: Path, target: Path) -> None:
    """`source` with every tensor's bytes overwritten by 0xFF (NaN in float32), its zip
    rewritten entry by entry, so nothing but the numbers betrays the damage."""
    with zipfile.ZipFile(source) as original, \
            zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as damaged:
        for info in original.infolist():
            data = original.read(info)
            if "/data/" in info.filename:
                data = b"\xff" * len(data)
            damaged.writestr(info.filename, data)


def _full_checkpoint(weights: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A checkpoint with everything --resume asks for (never used: each one is refused)."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model_state_dict": weights,
            "optimizer_state_dict": {}, "scaler_state_dict": {}, "epoch": 1, "global_step": 1,
            "history": {}, "rng_state": {}}


def _run(folder: Path, name: str, config_text: str | None = None, **changes: Any) -> Path:
    """A run directory as trainui makes one, with a config.json of its own."""
    run_dir = create_run_dir(folder / name)
    config = {**RunConfig(model="mlp", epochs=1, run_dir=str(run_dir)).to_dict(), **changes}
    (run_dir / "config.json").write_text(config_text or json.dumps(config))
    return run_dir


def _write_run_dirs(folder: Path, weights: dict[str, torch.Tensor]) -> None:
    """Directories to --resume that are no run, or runs that cannot go on."""
    (folder / "not-a-run").mkdir()
    (folder / "not-a-run" / "config.json").write_text("{}\n")
    _run(folder, "config-array", "[1, 2]\n")
    epochs = _run(folder, "epochs-1e400") / "config.json"
    epochs.write_text(epochs.read_text().replace('"epochs": 1,', '"epochs": 1e400,'))
    assert "1e400" in epochs.read_text()
    _run(folder, "epochs-2.5", epochs=2.5)
    _run(folder, "epochs-true", epochs=True)
    _run(folder, "workers-100000", num_workers=100000)
    _run(folder, "fp16-cpu", amp="fp16", device="cpu")
    plain = _run(folder, "plain-last") / "checkpoints"
    plain.mkdir()
    torch.save(weights, plain / "last.pt")
    poisoned = _run(folder, "nan-last") / "checkpoints"
    poisoned.mkdir()
    torch.save(_full_checkpoint(weights), folder / "full.pt")
    _with_nan_weights(folder / "full.pt", poisoned / "last.pt")
    linked = _run(folder, "control-link")
    (folder / "link-target").write_text("not yours to replace\n")
    (linked / "control").symlink_to(folder / "link-target")
    closed = _run(folder, "closed-run")  # owner-only, as every run trainui makes
    (closed / "checkpoints").mkdir(mode=0o700)
    torch.save(_full_checkpoint(weights), closed / "checkpoints" / "last.pt")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """The inputs of every case, in a folder other users may enter (pytest's own temporary
    folders are closed to them)."""
    folder = Path(tempfile.mkdtemp(prefix="trainui-cli-errors-"))
    try:
        folder.chmod(0o755)
        _write_inputs(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _argv(name: str, scratch: Path, runs: str = "runs") -> list[str]:
    """The case's arguments; a training case gets a run directory of its own under `runs`
    (not a resume: a flag of the stored config given with --resume is an error itself)."""
    argv = [arg.replace("{dir}", str(scratch)) for arg in CASES[name][0]]
    if not {"--run-dir", "--resume"} & set(argv) and argv[0] not in ("eval", "watch"):
        argv += ["--run-dir", str(scratch / runs / name)]
    return argv


def run_forked(names: list[str], scratch: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run the cases through FORK_SERVER; return what each child exited with and wrote."""
    streams = scratch / "streams"
    streams.mkdir(exist_ok=True)
    cases: list[dict[str, Any]] = [
        {"name": name, "argv": _argv(name, scratch), "cwd": str(scratch),
         "pythonpath": str(scratch), "stdout": str(streams / f"{name}.out"),
         "stderr": str(streams / f"{name}.err"),
         "uid": NOBODY if name in AS_ANOTHER_USER else None}
        for name in names
    ]
    here = str(Path(__file__).parent)  # where other_user.py is
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [here, os.environ.get("PYTHONPATH")]))}
    server = subprocess.run([sys.executable, "-c", FORK_SERVER], input=json.dumps(cases),
                            capture_output=True, text=True, timeout=300, env=env)
    assert server.returncode == 0, server.stderr
    codes = json.loads(server.stdout)
    return {case["name"]: subprocess.CompletedProcess(
        case["argv"], codes[case["name"]], Path(case["stdout"]).read_text(),
        Path(case["stderr"]).read_text()) for case in cases}


@pytest.fixture(scope="module")
def outcomes(scratch: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case this machine can test, run at once."""
    testable = _cases_testable()
    return run_forked([name for name in CASES if testable.get(name, True)], scratch)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line(case, outcomes, scratch):
    if case not in outcomes:
        pytest.skip(f"{case}: the device exists on this machine, or not running as root")
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


def test_a_refused_folder_is_left_as_it_was(outcomes, scratch):
    """A new run is refused from a folder that holds a file: the file and the folder's
    sticky, world-writable mode stay exactly as they were."""
    assert outcomes["run-dir-not-empty"].returncode == ExitCode.USAGE
    folder = scratch / "users-folder"
    assert [p.name for p in folder.iterdir()] == ["metrics.json"]
    assert (folder / "metrics.json").read_text() == "mine\n"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777


@pytest.mark.parametrize("case", ["amp-fp16-on-cpu", "model-outputs-not-classes",
                                  "val-labels-out-of-range", "train-label-negative", "empty-val",
                                  "empty-test", "mixed-shapes-early"])
def test_data_and_model_are_checked_before_anything_is_written(case, outcomes, scratch):
    """Checked before the first step: not even the run directory was made."""
    assert outcomes[case].returncode == ExitCode.USAGE
    assert not (scratch / "runs" / case).exists()


def test_refusals_create_and_follow_nothing(outcomes, scratch):
    """A mistyped --resume creates nothing; a link at RUN/control is neither followed nor
    replaced; another user's refused --output leaves no file."""
    assert outcomes["resume-missing"].returncode == ExitCode.USAGE
    assert not (scratch / "nope").exists()
    assert (scratch / "control-link" / "control").is_symlink()
    assert (scratch / "link-target").read_text() == "not yours to replace\n"
    assert not (scratch / "nowhere").exists()
    assert list((scratch / "closed").iterdir()) == []


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
