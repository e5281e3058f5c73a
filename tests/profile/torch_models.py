"""An eager torch module for `MODULE:ATTR` profiling; imported only where torch is installed."""

from __future__ import annotations

import torch

torch.manual_seed(0)
# Eval mode, but called as a service often does: without no_grad/inference_mode.
EAGER_MLP = torch.nn.Sequential(
    torch.nn.Linear(16, 128),
    torch.nn.ReLU(),
    torch.nn.Linear(128, 128),
    torch.nn.ReLU(),
    torch.nn.Linear(128, 2),
).eval()
