"""Run an example script with every host-device read of a tensor counted, by the trainui
function that caused it; print the counts as JSON on the last line.

    python tests/scripts/sync_probe.py examples/lightning_digits.py --epochs 2 --run-dir D
"""

import collections
import json
import runpy
import sys
from pathlib import Path

import torch

import trainui.core
import trainui.integrations

OURS = (str(Path(trainui.core.__file__).parent), str(Path(trainui.integrations.__file__).parent))
READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "cpu", "numpy")
counts: collections.Counter[str] = collections.Counter()


def counted(name, original):
    def read(self, *args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith(OURS):
                counts[f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}"] += 1
                break
            frame = frame.f_back
        return original(self, *args, **kwargs)
    return read


for method in READS:
    setattr(torch.Tensor, method, counted(method, getattr(torch.Tensor, method)))
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
print(json.dumps(counts))
