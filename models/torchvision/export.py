"""Exports the layer-discovery fixtures of models/torchvision/ (issue 27) from torchvision's own definitions.

Run with Debian's PyTorch (python3-torch 1.13, python3-torchvision 0.14, python3-onnx):

    /usr/bin/python3 models/torchvision/export.py

Every model is adapted to 1×28×28 inputs (Fashion-MNIST: the stem takes one channel) and 10 classes, built untrained
with a fixed seed, put in eval mode and exported with torch.onnx.export at opset 13, shapes inferred by onnx. Models
whose weights would exceed 2 MB are written "graph-only": every initializer with more than 64 values keeps its dims
and loses its data (enough for layer discovery, which reads structure and shapes; not runnable).
"""
import os
import sys

import onnx
import torch
import torch.nn as nn
from onnx import shape_inference
from torchvision import models
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.efficientnet import _efficientnet_conf, EfficientNet
from torchvision.models.vision_transformer import VisionTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BYTES = 2 * 1024 * 1024


def gray_stem(conv: nn.Conv2d) -> nn.Conv2d:
    return nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)


def resnet18():
    m = models.resnet18(num_classes=10)
    m.conv1 = gray_stem(m.conv1)
    return m


def mobilenet_v2():
    m = models.mobilenet_v2(num_classes=10, width_mult=0.25)
    m.features[0][0] = gray_stem(m.features[0][0])
    return m


def mobilenet_v3_small():
    m = models.mobilenet_v3_small(num_classes=10, width_mult=0.25)
    m.features[0][0] = gray_stem(m.features[0][0])
    return m


def efficientnet_b0():
    setting, last = _efficientnet_conf('efficientnet_b0', width_mult=0.25, depth_mult=1.0)
    m = EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=last)
    m.features[0][0] = gray_stem(m.features[0][0])
    return m


def regnet_y_400mf():
    m = models.regnet_y_400mf(num_classes=10)
    m.stem[0] = gray_stem(m.stem[0])
    return m


def vit_small():
    m = VisionTransformer(image_size=28, patch_size=7, num_layers=4, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)
    m.conv_proj = nn.Conv2d(1, 32, kernel_size=7, stride=7)
    return m


def convnext_small():
    # Two stages of ConvNeXt blocks (depthwise 7×7 → LayerNorm → Linear → GELU → Linear, layer scale, residual).
    m = ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 2)], num_classes=10)
    m.features[0][0] = nn.Conv2d(1, 16, kernel_size=4, stride=4)
    return m


FIXTURES = {
    'resnet18': resnet18, 'mobilenet_v2': mobilenet_v2, 'mobilenet_v3_small': mobilenet_v3_small, 'efficientnet_b0': efficientnet_b0,
    'regnet_y_400mf': regnet_y_400mf, 'vit_small': vit_small, 'convnext_small': convnext_small,
}


def strip_weights(model: onnx.ModelProto) -> None:
    for t in model.graph.initializer:
        count = 1
        for d in t.dims:
            count *= d
        if count > 64:
            t.ClearField('raw_data')
            t.ClearField('float_data')
            t.doc_string = 'graph-only fixture: data removed (models/torchvision/export.py)'


def main(names):
    for name in names or FIXTURES:
        torch.manual_seed(0)
        m = FIXTURES[name]().eval()
        path = os.path.join(HERE, f'{name}.onnx')
        torch.onnx.export(m, torch.zeros(1, 1, 28, 28), path, opset_version=13, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
        model = shape_inference.infer_shapes(onnx.load(path))
        graph_only = model.ByteSize() > MAX_BYTES
        if graph_only:
            strip_weights(model)
        model.doc_string = f'kqkd layer-discovery fixture: torchvision {name}, 1x28x28, 10 classes, untrained' + (', graph-only' if graph_only else '')
        onnx.save(model, path)
        print(f'{name}: {os.path.getsize(path) / 1024:.0f} KiB{" (graph-only)" if graph_only else ""}, params {sum(p.numel() for p in m.parameters())}')


if __name__ == '__main__':
    main(sys.argv[1:])
