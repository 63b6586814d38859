"""trainui for training loops you do not write yourself: `trainui.integrations.lightning`
(PyTorch Lightning) and `trainui.integrations.hf` (Hugging Face transformers). Each module
imports its library only when imported itself."""
