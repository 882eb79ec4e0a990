"""A vectorized PyTorch CPU implementation of KQ-SPEC.md: the peer a PyTorch user would write.

Used ONLY by the `geometry-vs-pytorch` benchmark (never by the product or its tests). It follows the spec's
reference mode (absolute cosines over full blocks, exact-zero rules, summed entropy window) in float32 like the
paper's code, with eigenvalues of the centred class Gram in float64.

    python3 kq_torch.py FEATURES.npy LABELS.npy IDX_MAIN.npy IDX_CLASS.npy DATASET_SIZE REPS THREADS
prints one JSON object: {"S", "I", "E", "Q", "seconds": [...], "torch": version, "threads"}.
"""
import json
import math
import sys
import time

import numpy as np
import torch


def kq(X: torch.Tensor, y: torch.Tensor, idx_main: torch.Tensor, idx_class: torch.Tensor, dataset_size: int):
    C = int(y.max()) + 1
    ym_all = y[idx_main]
    order = torch.argsort(ym_all, stable=True)
    M = idx_main[order]
    ym = ym_all[order]
    XM = X[M]
    r = XM.norm(dim=1)
    G = XM @ XM.T
    A = (G / r[:, None] / r[None, :]).abs()
    onehot = torch.nn.functional.one_hot(ym, C).to(A.dtype)
    counts = onehot.sum(0)
    avg = (onehot.T @ A @ onehot) / (counts[:, None] * counts[None, :])
    diag = avg.diagonal()
    S = diag.mean() - (avg.sum() - diag.sum()) / (C * (C - 1))

    same = ym[:, None] == ym[None, :]
    inf = torch.tensor(float("inf"))
    row_min_intra = torch.where(same, A, inf).amin(dim=1)
    min_intra = torch.full((C,), float("inf")).scatter_reduce(0, ym, row_min_intra, reduce="amin")
    sq = r * r
    d2 = torch.where(same, inf, sq[:, None] + sq[None, :] - 2 * G)
    row_min_d2 = d2.amin(dim=1)
    min_inter = torch.full((C,), float("inf")).scatter_reduce(0, ym, row_min_d2, reduce="amin").clamp_min(0).sqrt()
    avg_norm = torch.zeros(C).scatter_add(0, ym, r) / counts
    pcagid = min(M.numel(), X.shape[1])
    K = (dataset_size / math.pi) ** (1.0 / pcagid)
    E = K * 2 * min_inter.mean() / avg_norm.mean()

    # Information: class PCA spectra on P.
    D = X.shape[1]
    spectra = []
    for c in range(C):
        P = idx_class[y[idx_class] == c]
        Xc = X[P]
        m = Xc.shape[0]
        Z = Xc - Xc.mean(dim=0, keepdim=True)
        L = min(m, D)
        lam = torch.linalg.eigvalsh((Z @ Z.T).double()).abs().sort(descending=True).values[:L]
        zero_cols = int((Xc == Xc[0:1]).all(dim=0).sum())
        n_zero = max(0, L - min(m, D - zero_cols))
        if n_zero:
            lam[L - n_zero:] = 0
        spectra.append(lam)
    W = max(s.numel() for s in spectra)
    rho = torch.zeros(C, W, dtype=torch.float64)
    for c, lam in enumerate(spectra):
        rho[c, : lam.numel()] = lam / lam.sum()
    dims = []
    for c in range(C):
        ed, prefix = 0, 0.0
        while prefix < 0.95 and ed < W - 1:
            prefix += float(rho[c, ed])
            ed += 1
        dims.append(ed)
    w = min(sum(dims), W)
    H = torch.zeros(C, dtype=torch.float64)
    if w > 0:
        win = rho[:, :w]
        p = win / win.sum(dim=1, keepdim=True)
        h = -(p * p.log()).sum(dim=1)
        bad = (win == 0).any(dim=1) | win.isnan().any(dim=1)
        H = torch.where(bad, torch.zeros_like(h), h)
    I = (1 - min_intra.double().mean()) * H.mean() / math.log(5)
    Q = S.double() + torch.sqrt(I * E.double())
    return float(S), float(I), float(E), float(Q)


def main():
    feats, labels, idx_main, idx_class, dataset_size, reps, threads = sys.argv[1:8]
    torch.set_num_threads(int(threads))
    X = torch.from_numpy(np.load(feats)).reshape(np.load(feats, mmap_mode="r").shape[0], -1).float()
    y = torch.from_numpy(np.load(labels)).long()
    im = torch.from_numpy(np.load(idx_main)).long()
    ic = torch.from_numpy(np.load(idx_class)).long()
    seconds = []
    result = None
    for _ in range(int(reps)):
        t = time.perf_counter()
        result = kq(X, y, im, ic, int(dataset_size))
        seconds.append(time.perf_counter() - t)
    S, I, E, Q = result
    print(json.dumps({"S": S, "I": I, "E": E, "Q": Q, "seconds": seconds, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
