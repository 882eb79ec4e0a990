"""PyTorch CPU reference of the `extract` benchmark: features of every generalized layer (forward hooks on the
modules of zoo_torch.py that end each layer) for `samples` random inputs, batch by batch, eval mode, no grad.

Run: /usr/bin/python3 tools/zoo/extract_torch.py MODEL C H CLASSES SAMPLES BATCH THREADS REPS
Prints one JSON line: {torch, params, layers, seconds: [per rep], checksum}.
"""
import json
import sys
import time

import torch

from zoo_torch import build


def main():
    name, c, h, classes, samples, batch, threads, reps = sys.argv[1], *map(int, sys.argv[2:9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(name, c, h, classes).eval()
    feats = []
    for m in model.generalized_layers():
        m.register_forward_hook(lambda _m, _i, o: feats.append(o))
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(batch, c, h, h, generator=gen)  # one batch reused: input generation stays out of the timing
    seconds, checksum = [], 0.0
    with torch.inference_mode():
        model(x)  # warm-up
        for _ in range(reps):
            t = time.perf_counter()
            for start in range(0, samples, batch):
                feats.clear()
                model(x[: min(batch, samples - start)])
                checksum += float(feats[-1][0, 0])
            seconds.append(time.perf_counter() - t)
    print(json.dumps({'torch': torch.__version__, 'params': sum(p.numel() for p in model.parameters()),
                      'layers': len(feats), 'seconds': seconds, 'checksum': checksum}))


if __name__ == '__main__':
    main()
