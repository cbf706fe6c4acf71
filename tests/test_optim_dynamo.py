"""torch's optimizers are built and checkpointed without importing TorchDynamo (engines/optim.py), and
behave as torch's own the moment it is imported."""

from __future__ import annotations

import subprocess
import sys

LOADED = "print('torch._dynamo' in sys.modules)"


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def test_a_default_run_never_loads_dynamo(tmp_path):
    code = f"""
from gankit import Config, run_experiment
run_experiment(Config(), out={str(tmp_path / 'run')!r}, plots=False, progress=False)
{LOADED}"""
    assert _python(code) == "False"
    assert (tmp_path / "run" / "checkpoints").is_dir()  # checkpoints (optimizer state_dicts) were written


def test_the_control_plain_torch_adam_loads_dynamo():
    """Without the deferral, torch's Adam imports torch._dynamo: what the test above would then see."""
    assert _python(f"import torch\ntorch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])\n{LOADED}") == "True"


def test_once_dynamo_is_loaded_torch_s_own_exclusion_takes_over():
    code = f"""
import torch
from gankit.engines.optim import adam
p = torch.nn.Parameter(torch.zeros(2))
opt = adam([p], lr=0.1, betas=(0.9, 0.999))
raw = torch.optim.Optimizer.state_dict.__wrapped__
plain = getattr(raw, "__dynamo_disable")
before = opt.state_dict()
import torch._dynamo
after = opt.state_dict()                       # through torch's wrapper now
cached = getattr(raw, "__dynamo_disable")
print(before == after and cached is not plain and getattr(cached, "_torchdynamo_disable", False))"""
    assert _python(code) == "True"
