#!/usr/bin/env bash
# Figure 5: trainui vs plain and chapter loops on a CUDA GPU (resnet18, bf16) + sync check;
# then figure 10's NCCL path (one GPU, world size 1, torchrun) against a plain DDP loop.
# Usage: bash bench/gpu.sh [--epochs N --repeats N --samples N --out FILE]; < 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
"$PYTHON" bench/gpu_bench.py "$@"
# Figure 10's GPU row: the one-GPU NCCL path (torchrun, world size 1) against a plain DDP loop.
"$PYTHON" bench/ddp_overhead.py --device cuda --repeats 3 --epochs 10 \
    --out bench/results/ddp_overhead_gpu.json
