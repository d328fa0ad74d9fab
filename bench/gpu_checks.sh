#!/usr/bin/env bash
# The checks that need a GPU, as one short script for a lent device machine (see the README's benchmarks):
# the CUDA path of the upstream-shaped train.py, and the attestation cost on CUDA (export + scorer).
#   bash bench/gpu_checks.sh            # about 5 minutes on one GPU
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || python3 -m pip install --quiet "uv==0.13.8"
uv sync --frozen
uv run python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
uv run prepare.py
uv run pytest -q -p no:cacheprovider tests/harness/test_upstream_compat.py tests/harness/test_dataloader.py
uv run bench/attestation_cost.py --pairs 2 --budget 30
