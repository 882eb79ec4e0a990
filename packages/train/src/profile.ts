/**
 * `summarizeOrtProfile`: where a training step spends its time, from ONNX Runtime's profiler output (the Chrome-trace
 * JSON of `enableProfiling`: an array of `{ cat, name, ts, dur, args }` events, µs). Node events (`cat: "Node"`,
 * named `<node>_kernel_time`, `args.op_name`) are summed per op type and per node; `model_run` session events
 * bound the runs, so a summary can keep only the last runs (the timed steps of a benchmark, not its warm-up).
 */
import { expectInteger, KqkdError } from '@kqkd/common';

export interface OrtProfileOp {
  op: string;
  /** Kernel calls over the summarized runs. */
  calls: number;
  /** Total ms over the summarized runs. */
  ms: number;
  msPerStep: number;
  /** Of the summed node time (the shares of all ops add up to 1). */
  share: number;
}

export interface OrtProfileNode {
  /** The node's name in the graph. */
  name: string;
  op: string;
  ms: number;
  msPerStep: number;
  share: number;
}

export interface OrtProfileSummary {
  /** `model_run`s summarized (the steps). */
  steps: number;
  /** `model_run`s in the trace (warm-up and timed steps). */
  runsInTrace: number;
  /** Summed kernel time per step (ms). */
  nodeMsPerStep: number;
  /** Mean `model_run` time per step (ms): node time + the executor's own (allocation, scheduling, copies). */
  runMsPerStep: number;
  /** Every op type, by ms descending. */
  byOp: OrtProfileOp[];
  /** The costliest nodes, by ms descending. */
  topNodes: OrtProfileNode[];
}

export interface SummarizeOrtProfileOptions {
  /** Summarize only the last `lastRuns` model runs (default: every run). */
  lastRuns?: number;
  /** Nodes kept in `topNodes` (default 20). */
  topNodes?: number;
}

interface TraceEvent { cat?: unknown; name?: unknown; ts?: unknown; dur?: unknown; args?: { op_name?: unknown } }

const KERNEL_SUFFIX = '_kernel_time';

/** Summarizes a profile (its JSON text, or the parsed events); see the module comment. */
export function summarizeOrtProfile(trace: string | unknown, o: SummarizeOrtProfileOptions = {}): OrtProfileSummary {
  let parsed = trace;
  if (typeof trace === 'string') {
    try {
      parsed = JSON.parse(trace);
    } catch (err) {
      throw new KqkdError('profile', 'ONNX Runtime\'s profile (Chrome-trace JSON)', `unparsable JSON (${(err as Error).message})`);
    }
  }
  // ORT writes a bare array; Chrome's object form wraps it in traceEvents.
  const events = Array.isArray(parsed) ? parsed as TraceEvent[] : (parsed as { traceEvents?: unknown } | null)?.traceEvents;
  if (!Array.isArray(events)) throw new KqkdError('profile', 'an array of trace events (or { traceEvents })', typeof parsed);
  const topCount = expectInteger('topNodes', o.topNodes ?? 20, 0, 1_000_000);
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

  const runs = (events as TraceEvent[]).filter((e) => e?.cat === 'Session' && e.name === 'model_run' && num(e.ts) && num(e.dur))
    .map((e) => ({ start: e.ts as number, dur: e.dur as number }))
    .sort((a, b) => a.start - b.start);
  if (runs.length === 0) throw new KqkdError('profile', 'at least one model_run event', 'none');
  const lastRuns = o.lastRuns === undefined ? runs.length : expectInteger('lastRuns', o.lastRuns, 1, runs.length);
  const kept = runs.slice(runs.length - lastRuns);

  const byOp = new Map<string, { calls: number; us: number }>();
  const byNode = new Map<string, { op: string; us: number }>();
  let total = 0;
  for (const e of events as TraceEvent[]) {
    if (e?.cat !== 'Node' || !num(e.dur) || !num(e.ts) || typeof e.name !== 'string' || typeof e.args?.op_name !== 'string') continue;
    // Older ORT builds also emit _fence_before/_fence_after markers per node: synchronization, not kernel time.
    if (/_fence_(before|after)$/.test(e.name)) continue;
    // The kept runs are the last ones and nodes run only inside runs: a node after the first kept run's start is theirs.
    if (e.ts < kept[0].start) continue;
    const op = e.args.op_name;
    const name = e.name.endsWith(KERNEL_SUFFIX) ? e.name.slice(0, -KERNEL_SUFFIX.length) : e.name;
    const a = byOp.get(op) ?? { calls: 0, us: 0 };
    a.calls++;
    a.us += e.dur;
    byOp.set(op, a);
    const n = byNode.get(name) ?? { op, us: 0 };
    n.us += e.dur;
    byNode.set(name, n);
    total += e.dur;
  }
  const steps = kept.length;
  const share = (us: number) => (total > 0 ? us / total : 0);
  // Ties in name order, so the summary of a trace is one list.
  const byTimeDesc = ([ka, a]: [string, { us: number }], [kb, b]: [string, { us: number }]) => b.us - a.us || (ka < kb ? -1 : ka > kb ? 1 : 0);
  return {
    steps,
    runsInTrace: runs.length,
    nodeMsPerStep: total / 1000 / steps,
    runMsPerStep: kept.reduce((a, r) => a + r.dur, 0) / 1000 / steps,
    byOp: [...byOp].sort(byTimeDesc).map(([op, a]) => ({ op, calls: a.calls, ms: a.us / 1000, msPerStep: a.us / 1000 / steps, share: share(a.us) })),
    topNodes: [...byNode].sort(byTimeDesc).slice(0, topCount)
      .map(([name, n]) => ({ name, op: n.op, ms: n.us / 1000, msPerStep: n.us / 1000 / steps, share: share(n.us) })),
  };
}
