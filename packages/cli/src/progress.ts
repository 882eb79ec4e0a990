import cliProgress from 'cli-progress';

export interface Progress {
  /** A new bar of `total` items; `from` items are done already (a run resumed inside an epoch). */
  start(total: number, label: string, from?: number): void;
  update(done: number, detail?: string): void;
  stop(): void;
}

/**
 * A progress bar on stderr (items done / total, rate, ETA). When stderr is not a terminal (CI, logs) it
 * prints one plain line per update instead of redrawing, so logs stay readable.
 */
export function createProgress(quiet = false): Progress {
  if (quiet) return { start() {}, update() {}, stop() {} };
  if (!process.stderr.isTTY) {
    let label = '';
    let total = 0;
    let started = 0;
    let first = 0;
    let lastPrinted = 0;
    return {
      start(t, l, from = 0) { total = t; label = l; first = from; started = Date.now(); lastPrinted = 0; },
      update(done, detail) {
        // At most one line a second (and always the last), so logs stay short.
        if (done < total && Date.now() - lastPrinted < 1000) return;
        lastPrinted = Date.now();
        const secs = (Date.now() - started) / 1000;
        // The rate counts only what this process did (a resumed bar starts at `from`).
        const eta = done > first && secs > 0 ? (secs / (done - first)) * (total - done) : NaN;
        process.stderr.write(`${label} ${done}/${total} ${detail ?? ''} (${secs.toFixed(1)} s, ETA ${Number.isFinite(eta) ? eta.toFixed(1) : '?'} s)\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: '{label} [{bar}] {value}/{total} | {detail} | {duration_formatted} elapsed, ETA {eta_formatted}',
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  return {
    start(total, label, from = 0) { bar.start(total, from, { label, detail: '' }); },
    update(done, detail) { bar.update(done, { detail: detail ?? '' }); },
    stop() { bar.stop(); },
  };
}
