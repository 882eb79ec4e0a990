"""PyTorch CPU eager reference for the train-step-fkd bench: the student step of the paper's method (FKD, METHOD.md
section 3) with the teacher's features cached. A student of the kqkd zoo as tools/zoo/zoo_torch.py defines it, its
generalized layers hooked (ResNet9: layers 1-4 = the four BasicBlock outputs), one 1x1 conv projector without bias per
pair (student channels -> teacher channels), the projected map average-pooled to the teacher's spatial size when
larger, L_F = mean over pairs of MSE(pooled projection, teacher feature), plus CE of the head (avgpool, flatten, fc) on
the DETACHED output of the deepest distilled layer, so CE trains the head only. One AdamW step (lr 1e-3, wd 0.01)
over student + projectors per batch (zero_grad, forward, loss, backward, step) on random inputs, labels and teacher
features (generated once), after warm-up steps; the same protocol as train_step_torch.py.
usage: train_step_fkd_torch.py MODEL C H W CLASSES BATCH STEPS REPS THREADS WIDTH PAIRS_JSON  -> one JSON line
PAIRS_JSON: [{"student": 1, "teacherShape": [256, 8, 8]}, ...]"""
import json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'zoo'))
import zoo_torch  # noqa: E402

name = sys.argv[1]
c, h, w, classes, batch, steps, reps, threads = (int(v) for v in sys.argv[2:10])
width = float(sys.argv[10])
pairs = json.loads(sys.argv[11])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = zoo_torch.build(name, c, h, classes, width)
model.train()
layers = model.generalized_layers()
deepest = max(p['student'] for p in pairs)
feats = {}


def tap(index):
    def hook(_module, _inputs, out):
        feats[index] = out
        # FKD: the head reads the deepest distilled layer detached (CE never reaches the backbone)
        return out.detach() if index == deepest else None
    return hook


for index in sorted({p['student'] for p in pairs}):
    layers[index].register_forward_hook(tap(index))

# channel counts of the hooked layers, from one forward at batch 1 (eval: BN running stats untouched)
model.eval()
with torch.no_grad():
    model(torch.zeros(1, c, h, w))
model.train()
projectors = nn.ModuleList(nn.Conv2d(feats[p['student']].shape[1], p['teacherShape'][0], 1, bias=False) for p in pairs)
opt = torch.optim.AdamW([*model.parameters(), *projectors.parameters()], lr=1e-3, weight_decay=0.01)
x = torch.randn(batch, c, h, w)
y = torch.randint(0, classes, (batch,))
teacher = [torch.randn(batch, *p['teacherShape']) for p in pairs]


def step():
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    lf = 0.0
    for p, proj, t in zip(pairs, projectors, teacher):
        s = proj(feats[p['student']])
        if s.shape[2:] != t.shape[2:]:
            s = F.adaptive_avg_pool2d(s, t.shape[2:])
        lf = lf + F.mse_loss(s, t)
    loss = F.cross_entropy(logits, y) + lf / len(pairs)
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(2):
    step()
train = []
last = None
for _ in range(reps):
    t0 = time.perf_counter()
    for _ in range(steps):
        last = step()
    train.append((time.perf_counter() - t0) / steps)
print(json.dumps({"torch": torch.__version__, "model": name, "threads": threads, "batch": batch, "pairs": pairs,
                  "params": sum(p.numel() for p in model.parameters()),
                  "projectorParams": sum(p.numel() for p in projectors.parameters()),
                  "lastLoss": last, "trainStepSeconds": train}))
