/**
 * Vision Transformers (METHOD.md §7): torchvision's pre-LN encoder block (LN → multi-head self-attention →
 * residual, LN → MLP with exact GELU → residual), patch embedding by a strided conv, learned position embeddings
 * (N(0, 0.02²) as torchvision), final LN, classification from the AVERAGE of the tokens, head initialised to zero.
 * There is no class token: the paper's code classifies from the token average, so the sequence is the patches only.
 * Patch 4 up to 32×32 (28×28 too: 7×7 = 49 tokens), 8 from 64×64 (8×8 = 64 tokens); `patch` overrides.
 * LayerNorm ε = 1e-6 (torchvision). Dropout and attention dropout are 0 (identity), as torchvision's defaults.
 * Generalized layers: one per encoder block (the MLP residual Add), then the token average — depth + 1.
 * Parameter names follow torchvision (conv_proj, encoder.pos_embedding, encoder.layers.encoder_layer_<i>.ln_1,
 * ..., mlp.0, mlp.3, encoder.ln, heads.head) except that q/k/v are three [D, D] projections (q_proj, k_proj,
 * v_proj; same count as torchvision's fused in_proj) and token-wise Linear weights are stored [in, out].
 */
import { invalidArgument } from '@kqkd/common';
import type { GraphBuilder, Tensor } from '@kqkd/onnx';
import { checkBuild, LayerTaps } from './taps.js';
import type { ZooBuildOptions, ZooModel } from './types.js';

export interface VitConfig { depth: number; heads: number; dim: number; mlp: number }

export const VIT_CONFIGS = {
  vit_b: { depth: 12, heads: 12, dim: 768, mlp: 3072 },
  vit_et: { depth: 8, heads: 8, dim: 256, mlp: 768 },
  vit_ett: { depth: 8, heads: 6, dim: 192, mlp: 576 },
} as const satisfies Record<string, VitConfig>;

const LN_EPS = 1e-6;

/** Default patch size for a side: 4 below 64 pixels (32×32, 28×28), 8 from 64. */
export function defaultPatch(side: number): number {
  return side >= 64 ? 8 : 4;
}

function attention(b: GraphBuilder, x: Tensor, heads: number): Tensor {
  const [, T, D] = x.shape as [unknown, number, number];
  const dh = D / heads;
  const split = (name: string, perm: number[]) =>
    b.transpose(b.reshape(b.linear(x, D, { name }), [0, T, heads, dh], `${name}.heads`), perm, `${name}.t`);
  const q = split('q_proj', [0, 2, 1, 3]); // [N, h, T, dh]
  const k = split('k_proj', [0, 2, 3, 1]); // [N, h, dh, T]
  const v = split('v_proj', [0, 2, 1, 3]);
  const scores = b.mulScalar(b.matMul(q, k, 'scores'), 1 / Math.sqrt(dh), 'scores_scaled');
  const ctx = b.matMul(b.softmax(scores, -1, 'attn'), v, 'context'); // [N, h, T, dh]
  const merged = b.reshape(b.transpose(ctx, [0, 2, 1, 3], 'context.t'), [0, T, D], 'context.merged');
  return b.linear(merged, D, { name: 'out_proj' });
}

function encoderBlock(b: GraphBuilder, x: Tensor, heads: number, mlp: number): Tensor {
  const D = x.shape[2] as number;
  const n1 = b.layerNorm(x, { name: 'ln_1', epsilon: LN_EPS });
  const a = b.scope('self_attention', () => attention(b, n1, heads));
  const r = b.add(x, a, 'residual1');
  const m = b.linear(b.gelu(b.linear(b.layerNorm(r, { name: 'ln_2', epsilon: LN_EPS }), mlp, { name: 'mlp.0' }), 'mlp.1'), D, { name: 'mlp.3' });
  return b.add(r, m, 'out');
}

export function vit(model: keyof typeof VIT_CONFIGS) {
  return (b: GraphBuilder, input: Tensor, options: ZooBuildOptions): ZooModel => {
    const o = checkBuild(model, input, options);
    const cfg: VitConfig = VIT_CONFIGS[model];
    const headDim = Math.max(1, Math.round((cfg.dim / cfg.heads) * o.multiplier));
    const dim = headDim * cfg.heads;
    const mlp = Math.max(1, Math.round(cfg.mlp * o.multiplier));
    const patch = options.patch ?? defaultPatch(Math.min(o.height, o.width));
    if (!Number.isInteger(patch) || patch < 1 || o.height % patch !== 0 || o.width % patch !== 0) {
      invalidArgument(`${model} patch`, `a patch size dividing the input ${o.height}×${o.width}`, patch);
    }
    const taps = new LayerTaps(model);
    const grid = b.conv(input, dim, { name: 'conv_proj', kernel: patch, stride: patch, pad: 0, bias: true });
    const T = (o.height / patch) * (o.width / patch);
    let h = b.transpose(b.reshape(grid, [0, dim, T], 'patches'), [0, 2, 1], 'tokens'); // [N, T, D]
    h = b.scope('encoder', () => {
      const pos = b.param('pos_embedding', [1, T, dim], b.normal(T * dim, 0.02));
      let z = b.add(h, pos, 'embedded');
      for (let i = 0; i < cfg.depth; i++) {
        z = taps.tap(b.scope(`layers.encoder_layer_${i}`, () => encoderBlock(b, z, cfg.heads, mlp)));
      }
      return b.layerNorm(z, { name: 'ln', epsilon: LN_EPS });
    });
    const pooled = taps.tap(b.reduceMean(h, [1], false, 'token_average')); // [N, D]
    const headStartsAfter = taps.last;
    const w = b.param('heads.head.weight', [o.classes, dim], new Float32Array(o.classes * dim));
    const bias = b.param('heads.head.bias', [o.classes], new Float32Array(o.classes));
    return { logits: b.gemmWith(pooled, w, bias, { name: 'heads.head', transB: true }), layers: taps.layers, headStartsAfter };
  };
}
