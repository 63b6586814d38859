"""Your own PyTorch loop on trainui: digits (bundled with scikit-learn), a small MLP.

    python examples/own_loop.py --epochs 5          # run it; watch with `trainui watch`
    trainui run -- python examples/own_loop.py      # the same, in the live view
"""

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import trainui


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--run-dir", default=None)
    args = parser.parse_args()

    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    train = TensorDataset(x[:1400], y[:1400])
    val = TensorDataset(x[1400:1600], y[1400:1600])
    test_x, test_y = x[1600:], y[1600:]
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    criterion = nn.CrossEntropyLoss()

    def save_checkpoint() -> str:
        path = f"{run.run_dir}/checkpoint.pt"
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
        return path

    with trainui.init(config=vars(args), epochs=args.epochs, steps_per_epoch=len(loader),
                      run_dir=args.run_dir, model=model, dataset="digits",
                      batch_size=args.batch_size,
                      class_names=[str(i) for i in range(10)]) as run:
        for _epoch in range(args.epochs):
            model.train()
            for inputs, targets in loader:
                optimizer.zero_grad(set_to_none=True)
                outputs = model(inputs)
                loss = criterion(outputs, targets)
                loss.backward()
                optimizer.step()
                acc = (outputs.argmax(1) == targets).float().mean()
                run.log({"loss": loss, "acc": acc, "lr": scheduler.get_last_lr()[0]})
                if run.stop_requested:
                    break
            scheduler.step()
            model.eval()
            with torch.no_grad():
                val_out = model(val.tensors[0])
                val_loss = criterion(val_out, val.tensors[1])
                val_acc = (val_out.argmax(1) == val.tensors[1]).float().mean()
            run.end_epoch({"val_loss": val_loss, "val_acc": val_acc})
            if run.save_requested:
                run.saved(save_checkpoint())
            if run.stop_requested:
                break
        with torch.no_grad():
            predicted = model(test_x).argmax(1)
        run.evaluate(test_y, predicted)


if __name__ == "__main__":
    main()
