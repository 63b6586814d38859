"""A Hugging Face Trainer run on trainui: digits (bundled with scikit-learn), a small
model whose forward returns {"loss", "logits"}; nothing is downloaded.

    pip install 'trainui[hf]'
    trainui run -- python examples/hf_digits.py --epochs 20
"""

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import Dataset
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

from trainui.integrations.hf import TrainuiCallback


class Digits(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "labels": self.y[i]}


class DigitsMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        logits = self.net(x)
        if labels is None:
            return {"logits": logits}
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def accuracy(prediction) -> dict:
    return {"accuracy": float((prediction.predictions.argmax(1) == prediction.label_ids).mean())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--output-dir", default="hf-output")
    args = parser.parse_args()
    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    training = TrainingArguments(
        output_dir=args.output_dir, num_train_epochs=args.epochs, learning_rate=0.05,
        per_device_train_batch_size=64, per_device_eval_batch_size=256,
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=2,
        load_best_model_at_end=True, metric_for_best_model="eval_loss",
        logging_steps=10, report_to="none", disable_tqdm=True, use_cpu=True,
        logging_nan_inf_filter=False,  # no host-device sync per step
    )
    trainer = Trainer(
        model=DigitsMLP(), args=training, train_dataset=Digits(x[:1400], y[:1400]),
        eval_dataset=Digits(x[1400:], y[1400:]), compute_metrics=accuracy,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=args.patience),
                   TrainuiCallback(run_dir=args.run_dir, class_names=[str(i) for i in range(10)])],
    )
    trainer.train()


if __name__ == "__main__":
    main()
