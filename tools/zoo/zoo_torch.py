"""PyTorch definitions of the kqkd model zoo (METHOD.md section 7), used ONLY by tests' reference numbers and
benchmarks: parameter counts (param_counts.py) and the extract benchmark (extract_torch.py). Written independently
of packages/models in the ordinary PyTorch idiom (torchvision-style modules), so agreement is a real check.

Each model has .generalized_layers(): the modules whose forward output is a generalized layer (METHOD.md section 1),
in order, for forward hooks.
"""
import math

import torch
from torch import nn


def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def scaled(c, width):
    return max(1, int(round(c * width)))


# ---------------------------------------------------------------- ResNet (BasicBlock, CIFAR stem)
class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, blocks, in_ch, side, classes, width=1.0):
        super().__init__()
        w = [scaled(c, width) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(in_ch, w[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1) if side >= 64 else nn.Identity()
        stages, inp = [], w[0]
        for s, n in enumerate(blocks):
            layer = []
            for i in range(n):
                layer.append(BasicBlock(inp, w[s], 2 if (i == 0 and s > 0) else 1))
                inp = w[s]
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(inp, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))

    def generalized_layers(self):
        blocks = [b for layer in (self.layer1, self.layer2, self.layer3, self.layer4) for b in layer]
        return [self.relu, *blocks, self.flatten]


# ---------------------------------------------------------------- VGG-BN
VGG_CFG = {
    'vgg11': [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
    'vgg19': [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
}


class VGG(nn.Module):
    def __init__(self, cfg, in_ch, side, classes, width=1.0):
        super().__init__()
        layers, c = [], in_ch
        for v in cfg:
            if v == 'M':
                # kqkd skips a pool whose input side is below 2 (28x28 inputs)
                layers.append(nn.MaxPool2d(2, 2) if side >= 2 else nn.Identity())
                side //= 2 if side >= 2 else 1
            else:
                v = scaled(v, width)
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        h = scaled(4096, width)
        self.classifier = nn.Sequential(nn.Linear(c, h), nn.ReLU(), nn.Dropout(), nn.Linear(h, h), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(h, classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))

    def generalized_layers(self):
        relus = [m for m in self.features if isinstance(m, nn.ReLU)]
        return [*relus, self.flatten, self.classifier[1], self.classifier[4]]


# ---------------------------------------------------------------- MobileNetV2
MBV2_TABLE = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def conv_bn_relu6(i, o, k, s, groups=1):
    return nn.Sequential(nn.Conv2d(i, o, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(o), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, inp, out, stride, t):
        super().__init__()
        hidden = int(round(inp * t))
        layers = [] if t == 1 else [conv_bn_relu6(inp, hidden, 1, 1)]
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, hidden), nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)
        self.skip = stride == 1 and inp == out

    def forward(self, x):
        return x + self.conv(x) if self.skip else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, in_ch, side, classes, width=1.0):
        super().__init__()
        c = make_divisible(32 * width)
        feats = [conv_bn_relu6(in_ch, c, 3, 2 if side >= 64 else 1)]
        for t, ch, n, s in MBV2_TABLE:
            o = make_divisible(ch * width)
            for i in range(n):
                feats.append(InvertedResidual(c, o, s if i == 0 else 1, t))
                c = o
        last = make_divisible(1280 * max(1.0, width))
        feats.append(conv_bn_relu6(c, last, 1, 1))
        self.features = nn.Sequential(*feats)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))

    def generalized_layers(self):
        return [*self.features, self.flatten]


# ---------------------------------------------------------------- ViT (pre-LN, no class token, token average)
VIT_CFG = {'vit_b': (12, 12, 768, 3072), 'vit_et': (8, 8, 256, 768), 'vit_ett': (8, 6, 192, 576)}


class EncoderBlock(nn.Module):
    def __init__(self, heads, dim, mlp):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp, dim))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.self_attention(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class TokenAverage(nn.Module):
    def forward(self, x):
        return x.mean(dim=1)


class ViT(nn.Module):
    def __init__(self, name, in_ch, side, classes, width=1.0, patch=None):
        super().__init__()
        depth, heads, dim, mlp = VIT_CFG[name]
        dim = heads * max(1, int(round(dim // heads * width)))
        mlp = max(1, int(round(mlp * width)))
        patch = patch or (8 if side >= 64 else 4)
        tokens = (side // patch) ** 2
        self.conv_proj = nn.Conv2d(in_ch, dim, patch, patch)
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))
        self.layers = nn.Sequential(*[EncoderBlock(heads, dim, mlp) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.pool = TokenAverage()
        self.head = nn.Linear(dim, classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2) + self.pos_embedding
        return self.head(self.pool(self.ln(self.layers(x))))

    def generalized_layers(self):
        return [*self.layers, self.pool]


# ---------------------------------------------------------------- small CNN (training proof)
class SmallCnn(nn.Module):
    def __init__(self, in_ch, side, classes, width=1.0):
        super().__init__()
        layers, c = [], in_ch
        self.relus = []
        for w in (16, 32):
            w = scaled(w, width)
            relu = nn.ReLU()
            self.relus.append(relu)
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), relu, nn.MaxPool2d(2)]
            c, side = w, side // 2
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(c * side * side, classes)

    def forward(self, x):
        return self.head(self.flatten(self.features(x)))

    def generalized_layers(self):
        return [*self.relus, self.flatten]


def build(name, in_ch, side, classes, width=1.0):
    if name == 'resnet9':
        return ResNet([1, 1, 1, 1], in_ch, side, classes, width)
    if name == 'resnet34':
        return ResNet([3, 4, 6, 3], in_ch, side, classes, width)
    if name in VGG_CFG:
        return VGG(VGG_CFG[name], in_ch, side, classes, width)
    if name == 'mobilenetv2':
        return MobileNetV2(in_ch, side, classes, width)
    if name in VIT_CFG:
        return ViT(name, in_ch, side, classes, width)
    if name == 'small-cnn':
        return SmallCnn(in_ch, side, classes, width)
    raise ValueError(name)


NAMES = ['resnet9', 'resnet34', 'vgg11', 'vgg19', 'mobilenetv2', 'vit_b', 'vit_et', 'vit_ett', 'small-cnn']
