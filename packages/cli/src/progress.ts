import cliProgress from 'cli-progress';

export interface Progress {
  start(total: number, label: string): void;
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
    let lastPrinted = 0;
    return {
      start(t, l) { total = t; label = l; started = Date.now(); lastPrinted = 0; },
      update(done, detail) {
        // At most one line a second (and always the last), so logs stay short.
        if (done < total && Date.now() - lastPrinted < 1000) return;
        lastPrinted = Date.now();
        const secs = (Date.now() - started) / 1000;
        const eta = done > 0 ? (secs / done) * (total - done) : NaN;
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
    start(total, label) { bar.start(total, 0, { label, detail: '' }); },
    update(done, detail) { bar.update(done, { detail: detail ?? '' }); },
    stop() { bar.stop(); },
  };
}
