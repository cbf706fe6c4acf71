#!/usr/bin/env bash
# Records this machine's platform-specific figures (tests/platform_records.py) under each CPU
# capability torch can dispatch to here: unset (the best), AVX2 and DEFAULT, as .ci/run checks them.
# Run it after a change that is meant to change float32 training results, and commit tests/data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
for cap in "" avx2 default; do
    if [ -n "$cap" ] && ! ATEN_CPU_CAPABILITY=$cap $PY -c "import torch,sys; sys.exit(torch.backends.cpu.get_cpu_capability().lower() != '$cap')"; then
        echo "record-platform: this CPU cannot run $cap; skipped" >&2
        continue
    fi
    echo "record-platform: ATEN_CPU_CAPABILITY=${cap:-unset}" >&2
    if [ -n "$cap" ]; then export ATEN_CPU_CAPABILITY=$cap; else unset ATEN_CPU_CAPABILITY; fi
    GANKIT_RECORD_PLATFORM=1 $PY -m pytest -q -n 0 -m "repro and not slow" -k recorded_platform
done
