# SPDX-License-Identifier: MIT
"""Fits a line with PyTorch's gradient descent (needs python3-torch).

A jobd plugin written in Python (docs/python-plugins.md) that shows a
PyTorch training loop inside jobd: progress reported per epoch, cancel
honoured between epochs, the result as plain numbers. Without PyTorch
installed (Debian: python3-torch) the worker refuses it at load with
"No module named 'torch'" and the daemon serves every other plugin; the
tests then say that this example was skipped.

Input:  {"x": [1, 2, 3, 4], "y": [3.1, 4.9, 7.2, 8.8], "epochs": 500,
         "lr": 0.01, "seed": 0}
Output: {"slope": 1.94, "intercept": 1.1, "loss": 0.02, "epochs": 500}
"""
import torch

__version__ = "1.0.0"
RETRY_SAFE = True


def init(options):
    # One worker is one process: PyTorch's own thread pool should not take
    # every core of the machine for each of them.
    torch.set_num_threads(int(options.get("threads", 1)))
    return None


def process(input, job, state):
    if not isinstance(input, dict):
        raise ValueError("input: want an object")
    xs, ys = input.get("x"), input.get("y")
    if (not isinstance(xs, list) or not isinstance(ys, list) or
            len(xs) != len(ys) or len(xs) < 2 or len(xs) > 1_000_000):
        raise ValueError("x, y: want two lists of 2 to 1e6 numbers, "
                         "equally long")
    epochs = int(input.get("epochs", 500))
    if not 1 <= epochs <= 100_000:
        raise ValueError("epochs: want 1 to 100000")
    lr = float(input.get("lr", 0.01))
    torch.manual_seed(int(input.get("seed", 0)))
    x = torch.tensor(xs, dtype=torch.float64).unsqueeze(1)
    y = torch.tensor(ys, dtype=torch.float64).unsqueeze(1)
    model = torch.nn.Linear(1, 1, dtype=torch.float64)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    loss = None
    for epoch in range(epochs):
        if job.cancelled():
            return None
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        job.progress((epoch + 1) / epochs, "epoch %d" % (epoch + 1))
    return {
        "slope": model.weight.item(),
        "intercept": model.bias.item(),
        "loss": loss.item(),
        "epochs": epochs,
    }
