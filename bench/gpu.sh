#!/usr/bin/env bash
# Figure 5: trainui vs plain and chapter loops on a CUDA GPU (resnet18, bf16) + sync check.
# Usage: bash bench/gpu.sh [--epochs N --repeats N --samples N --out FILE]; < 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
exec "$PYTHON" bench/gpu_bench.py "$@"
