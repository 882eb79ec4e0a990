"""Parameter counts of the zoo from the PyTorch definitions in zoo_torch.py, and the shapes of every generalized
layer (forward hooks on one sample). packages/models/test/params.test.ts hard-codes this script's output.

Run: /usr/bin/python3 tools/zoo/param_counts.py [width]      (prints one JSON object)
     /usr/bin/python3 tools/zoo/param_counts.py --fixture packages/models/test/fixtures/torch-reference.json
       (writes widths 1 and 0.125, the file the tests read)
params = sum(p.numel() for p in model.parameters()); statistics = BN running_mean + running_var (num_batches_tracked
left out).
"""
import json
import sys

import torch

from zoo_torch import NAMES, build

CONFIGS = [('3x32x32', 3, 32, 10), ('3x32x32', 3, 32, 100), ('1x28x28', 1, 28, 10), ('3x64x64', 3, 64, 200)]


def reference(width):
    torch.manual_seed(0)
    out = {}
    for tag, c, side, classes in CONFIGS:
        for name in NAMES:
            m = build(name, c, side, classes, width).eval()
            params = sum(p.numel() for p in m.parameters())
            stats = sum(b.numel() for n, b in m.named_buffers() if n.endswith('running_mean') or n.endswith('running_var'))
            shapes = []
            hooks = [mod.register_forward_hook(lambda _m, _i, o: shapes.append(list(o.shape[1:]))) for mod in m.generalized_layers()]
            with torch.no_grad():
                m(torch.zeros(1, c, side, side))
            for h in hooks:
                h.remove()
            out[f'{name}/{tag}/{classes}'] = {'params': params, 'statistics': stats, 'layers': len(shapes), 'shapes': shapes}
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--fixture':
        fixture = {'_generatedBy': f'/usr/bin/python3 tools/zoo/param_counts.py --fixture {sys.argv[2]} (PyTorch {torch.__version__})',
                   'widths': {'1': reference(1.0), '0.125': reference(0.125)}}
        with open(sys.argv[2], 'w') as f:
            json.dump(fixture, f, separators=(',', ':'))
        return
    width = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    print(json.dumps({'torch': torch.__version__, 'width': width, 'models': reference(width)}))


if __name__ == '__main__':
    main()
