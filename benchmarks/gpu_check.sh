#!/usr/bin/env bash
# Every GPU check of gankit in one script, within 8 minutes on one GPU:
#   1. the tests marked gpu (device placement, a short CUDA run sampled on the CPU,
#      resume on the GPU bitwise, bf16 and fp16 with the scaler, torch.compile);
#   2. benchmarks/devices.py: gankit vs a plain PyTorch loop per device, bf16 vs fp32,
#      peak GPU memory, the chapter's 2-D run on the GPU next to the CPU fast path.
# Without a GPU the tests skip and the benchmark runs its CPU rows: the CPU fallback.
#
#   bash benchmarks/gpu_check.sh            # PY=... to choose the interpreter (default .venv/bin/python)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! $PY -c "import gankit" 2>/dev/null; then
    python3 -m pip install -q -c constraints.txt -e '.[test]' --no-deps >/dev/null && PY=python3
fi
$PY -c "import torch; print('torch', torch.__version__, '| CUDA:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none (the gpu tests skip)')"
status=0
echo "== tests marked gpu =="
timeout 300 $PY -m pytest -q -m gpu -p no:cacheprovider tests/test_device.py || status=$?
echo "== benchmarks/devices.py =="
timeout 240 $PY benchmarks/devices.py --quick || status=$?
exit $status
