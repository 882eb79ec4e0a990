"""PyTorch CPU eager reference for the train-step bench: a model of the kqkd zoo as tools/zoo/zoo_torch.py defines it
(small-cnn, resnet9, mobilenetv2, ...), one AdamW training step (zero_grad, forward, CE, backward, optimizer.step) per
batch on random inputs, after warm-up steps.
usage: train_step_torch.py MODEL C H W CLASSES BATCH STEPS REPS THREADS [WIDTH]  -> one JSON line"""
import json, os, sys, time
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'zoo'))
import zoo_torch  # noqa: E402

name = sys.argv[1]
c, h, w, classes, batch, steps, reps, threads = (int(v) for v in sys.argv[2:10])
width = float(sys.argv[10]) if len(sys.argv) > 10 else 1.0
torch.set_num_threads(threads)
torch.manual_seed(0)
model = zoo_torch.build(name, c, h, classes, width)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
loss_fn = nn.CrossEntropyLoss()
x = torch.randn(batch, c, h, w)
y = torch.randint(0, classes, (batch,))


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()


for _ in range(2):
    step()
train = []
for _ in range(reps):
    t = time.perf_counter()
    for _ in range(steps):
        step()
    train.append((time.perf_counter() - t) / steps)
print(json.dumps({"torch": torch.__version__, "model": name, "threads": threads, "batch": batch,
                  "params": sum(p.numel() for p in model.parameters()), "trainStepSeconds": train}))
