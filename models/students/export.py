"""Exports the ONNX student fixtures of models/students/ (issue 21, point 2) with Debian's PyTorch.

Run with Debian's PyTorch (python3-torch 1.13, python3-onnx):

    /usr/bin/python3 models/students/export.py

Three small classifiers for 1×28×28 inputs and 10 classes, each built with torch.manual_seed(SEED[name]) (untrained):

- resnet:    a small ResNet (stem conv-BN-ReLU, two BasicBlocks with BN, the second strided with a 1×1 conv-BN
             downsample, global average pool, `x.view(x.size(0), -1)`, Linear);
- mobilenet: a MobileNetV3-style network (conv-BN-HardSwish stem, depthwise conv-BN-HardSwish, squeeze-excite with
             ReLU and HardSigmoid, pointwise conv-BN, ReLU6, pool, flatten, Dropout(0.2), Linear);
- vit:       a small ViT (7×7 patch-embedding conv, flatten/transpose into 16 tokens, position embedding, one
             pre-norm encoder block: LayerNorm, 2-head self-attention written with reshape/permute/matmul/softmax,
             exact GELU MLP; final LayerNorm, token mean, Linear).

Each is exported with a dynamic batch dimension in the two modes kqkd supports:
- `<name>_train_op13.onnx`: `model.train()`, training=TrainingMode.TRAINING, do_constant_folding=False:
  BatchNormalization kept (training_mode=1, running-statistic outputs), Dropout kept, parameters keep their
  state_dict names, shape arithmetic (Shape → Gather → Unsqueeze → Concat → Reshape) left in the graph;
- `<name>_eval_op13.onnx` (the ViT: `vit_eval_op17.onnx`, LayerNormalization op): the default eval-mode export,
  BatchNormalization folded into the convolutions.

The PyTorch-equivalence test (packages/models/test/onnx-student.test.ts) rebuilds the same models through
`build(name)` below (same seed), so keep this file importable (the exports run only under __main__).
"""
import copy
import os
import sys

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
# The residual block of the zoo's independent PyTorch definitions (conv-BN-ReLU, conv-BN, 1×1 conv-BN shortcut).
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tools', 'zoo'))
from zoo_torch import BasicBlock  # noqa: E402
SEED = {'resnet': 1, 'mobilenet': 2, 'vit': 3}


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = BasicBlock(8, 8, 1)
        self.layer2 = BasicBlock(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


class SqueezeExcite(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.fc1 = nn.Conv2d(c, r, 1)
        self.fc2 = nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s


class SmallMobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1, groups=8, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.se = SqueezeExcite(8, 4)
        self.pw = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        x = self.se(self.dw(self.stem(x)))
        x = self.act(self.pw(x))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(self.dropout(x))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, T, C)
        return self.proj(x)


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class SmallViT(nn.Module):
    def __init__(self, dim=16, heads=2, hidden=32, patch=7):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, dim, patch, patch)
        self.pos_embed = nn.Parameter(torch.randn(1, (28 // patch) ** 2, dim) * 0.02)
        self.block = Block(dim, heads, hidden)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = self.block(x + self.pos_embed)
        return self.head(self.norm(x).mean(dim=1))


def build(name):
    torch.manual_seed(SEED[name])
    model = {'resnet': SmallResNet, 'mobilenet': SmallMobileNet, 'vit': SmallViT}[name]()
    # Non-trivial BN statistics and affine parameters, so that a swapped scale/mean or a wrong momentum shows.
    g = torch.Generator().manual_seed(100 + SEED[name])
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.3 * torch.rand(m.running_var.shape, generator=g))
    return model


def export(name, mode, opset):
    model = build(name)
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    path = os.path.join(HERE, f'{name}_{mode}_op{opset}.onnx')
    kwargs = dict(input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}},
                  opset_version=opset)
    if mode == 'train':
        model.train()
        # Tracing runs one training-mode forward, which updates the BN running statistics: keep the built ones.
        before = copy.deepcopy(model.state_dict())
        torch.onnx.export(model, x, path, training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False, **kwargs)
        m = onnx.load(path)
        for t in m.graph.initializer:
            if t.name in before:
                t.CopyFrom(numpy_helper.from_array(before[t.name].numpy(), t.name))
        onnx.save(m, path)
    else:
        model.eval()
        torch.onnx.export(model, x, path, **kwargs)
    size = os.path.getsize(path)
    assert size <= 2 * 1024 * 1024, f'{path}: {size} bytes'
    print(f'{os.path.basename(path)}: {size} bytes')


if __name__ == '__main__':
    for name, mode, opset in [('resnet', 'train', 13), ('resnet', 'eval', 13), ('mobilenet', 'train', 13), ('mobilenet', 'eval', 13),
                              ('vit', 'train', 13), ('vit', 'eval', 17)]:
        export(name, mode, opset)
    sys.exit(0)
