"""The walkthrough's student (docs/distill.md): a CIFAR-style ResNet8 for 1×28×28 inputs and 10 classes, written
in plain PyTorch as a user would, exported in training mode (BatchNormalization kept) with a dynamic batch.

    /usr/bin/python3 models/students/export_resnet8.py

Stem conv3×3(16)-BN-ReLU, three stages of one BasicBlock each (16, 32 and 64 channels, the last two strided with a
1×1 conv-BN downsample), global average pool, `x.view(x.size(0), -1)`, Linear. PyTorch's default initialisation,
torch.manual_seed(8), untrained: kqkd trains it.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from export import BasicBlock

HERE = os.path.dirname(os.path.abspath(__file__))


class ResNet8(nn.Module):
    def __init__(self, widths=(16, 32, 64), classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = BasicBlock(widths[0], widths[0], 1)
        self.layer2 = BasicBlock(widths[0], widths[1], 2)
        self.layer3 = BasicBlock(widths[1], widths[2], 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[2], classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.pool(x)
        return self.fc(x.view(x.size(0), -1))


if __name__ == '__main__':
    torch.manual_seed(8)
    model = ResNet8().train()
    path = os.path.join(HERE, 'resnet8_train_op13.onnx')
    x = torch.zeros(2, 1, 28, 28)
    # Tracing a training-mode forward updates the BN running statistics of this copy only; the file's come out of
    # that one forward on zeros (mean 0 moves nowhere), which training overwrites anyway.
    torch.onnx.export(model, x, path, input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}},
                      opset_version=13, training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    params = sum(p.numel() for p in model.parameters())
    print(f'{os.path.basename(path)}: {os.path.getsize(path)} bytes, {params} parameters')
