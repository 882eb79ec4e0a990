"""PyTorch CPU eager reference for the train-step bench: the small CNN of @kqkd/distill (conv-BN-ReLU-maxpool blocks,
flatten, linear), one AdamW training step (forward, CE, backward, optimizer.step) per batch.
usage: train_step_torch.py WIDTHS(comma) BATCH REPS THREADS  -> one JSON line"""
import json, sys, time
import torch
import torch.nn as nn

widths = [int(w) for w in sys.argv[1].split(',')]
batch, reps, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
layers, c, side = [], 1, 28
for w in widths:
    layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
    c, side = w, side // 2
model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * side * side, 10))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss_fn = nn.CrossEntropyLoss()
x = torch.randn(batch, 1, 28, 28)
y = torch.randint(0, 10, (batch,))

def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()

steps = 20
for _ in range(5):
    step()
train = []
for _ in range(reps):
    t = time.perf_counter()
    for _ in range(steps):
        step()
    train.append((time.perf_counter() - t) / steps)
model.eval()
fwd = []
with torch.no_grad():
    for _ in range(3):
        model(x)
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(steps):
            model(x)
        fwd.append((time.perf_counter() - t) / steps)
print(json.dumps({"torch": torch.__version__, "threads": threads, "trainStepSeconds": train, "forwardSeconds": fwd}))
