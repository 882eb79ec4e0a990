"""PyTorch's side of the ONNX-student equivalence test (packages/train/test/onnx-student.test.ts).

    /usr/bin/python3 models/students/sgd_reference.py <name> <onnx file> <batches.json>

Rebuilds `name` with export.py's `build` (same seed, so the same weights as the fixture: checked against every
initializer of the ONNX file first), then trains it in train mode with plain SGD for the batches of batches.json
({"lr", "shape": [B, C, H, W], "batches": [{"x": [...], "y": [...]}]}) and cross-entropy (mean). Dropout is set to
p = 0: kqkd runs Dropout as the identity (its training is deterministic). Prints JSON: the loss of every step, and
every parameter and BN running statistic after the last step, under the ONNX initializer names (= state_dict keys
of a training-mode export made with do_constant_folding=False); then `biasedRunningVar`: the running variances of a
second run whose BatchNorm updates them with the BIASED batch variance (the one it normalises with) instead of
PyTorch's unbiased n/(n − 1) estimate, which is what ONNX Runtime's training BatchNormalization kernel does.
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import build  # noqa: E402


def biased_bn_forward(self, x):
    """Training-mode BN whose running variance follows the biased batch variance (normalisation unchanged)."""
    with torch.no_grad():
        m = self.momentum
        self.running_mean.mul_(1 - m).add_(m * x.mean((0, 2, 3)))
        self.running_var.mul_(1 - m).add_(m * x.var((0, 2, 3), unbiased=False))
    return nn.functional.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def train(name, path, spec, biased):
    model = build(name)
    state = model.state_dict()
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    for k, v in inits.items():
        if k in state:
            assert np.array_equal(state[k].numpy(), v), f'{k}: the rebuilt model differs from the file'
    missing = [k for k in state if k not in inits and not k.endswith('num_batches_tracked')]
    assert not missing, f'state_dict entries not in the file: {missing}'
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if biased and isinstance(m, nn.BatchNorm2d):
            m.forward = biased_bn_forward.__get__(m)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=spec['lr'], momentum=0.0)
    losses = []
    for b in spec['batches']:
        x = torch.tensor(b['x'], dtype=torch.float32).reshape(spec['shape'])
        y = torch.tensor(b['y'], dtype=torch.int64)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    out = {k: v.detach().numpy().astype(np.float64).ravel().tolist() for k, v in model.state_dict().items() if k in inits}
    return losses, out


def main():
    name, path, batches_path = sys.argv[1:4]
    spec = json.load(open(batches_path))
    torch.set_num_threads(1)
    losses, out = train(name, path, spec, False)
    blosses, bout = train(name, path, spec, True)
    assert blosses == losses, 'the biased running variance must not change the losses'
    biased = {k: v for k, v in bout.items() if k.endswith('running_var')}
    print(json.dumps({'losses': losses, 'tensors': out, 'biasedRunningVar': biased}))


if __name__ == '__main__':
    main()
