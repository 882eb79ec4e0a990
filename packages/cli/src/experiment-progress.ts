/**
 * How the experiment's progress reads on the terminal (`kqkd experiment`, `kqkd distill`): stage lines, one bar for
 * the shared stages and for a run trained alone, epoch lines (and a status line every 20 s) when runs train side by side.
 */
import type { ExperimentProgress } from '@kqkd/kqkd';
import type { Progress } from './progress.js';

export function experimentProgressPrinter(progress: Progress, say: (line: string) => void, o: { evaluatedOn?: 'test' | 'validation' } = {}):
  { onProgress: (e: ExperimentProgress) => void; stopBar: () => void } {
  // Tuning runs are scored on the validation images; the others where the experiment evaluates.
  const split = (who: string) => (who.endsWith('(tuning)') ? 'validation' : o.evaluatedOn ?? 'test');
  // With runs side by side, batch progress of different runs would fight over one bar: print epoch lines only.
  let sideBySide = false;
  // …and, every 20 s, one line with where each running run is.
  const running = new Map<string, string>();
  let lastStatus = performance.now();
  let bar = false;
  let barLabel = '';
  const stopBar = () => { if (bar) { progress.stop(); bar = false; } };
  const onProgress = (e: ExperimentProgress) => {
    if (e.kind === 'stage') {
      if (e.stage === 'students' || e.stage === 'tuning') sideBySide = true;
      stopBar();
      say(`[${e.stage}] ${e.detail ?? ''}`);
    } else if (e.kind === 'progress') {
      if (!bar || barLabel !== e.stage) { stopBar(); progress.start(e.total, e.stage); bar = true; barLabel = e.stage; }
      progress.update(e.done);
      if (e.done >= e.total) stopBar();
    } else if (e.kind === 'queue') {
      stopBar();
      const running = e.running.map((r) => `${r.who} on ${r.worker} (epoch ${r.epoch}/${r.epochs})`).join('; ');
      say(`[queue] ${e.done}/${e.total} done, ${e.active} running, ${e.waiting} waiting, ${e.failed} failed${running ? ` — ${running}` : ''}`);
    } else {
      const ev = e.event;
      const label = e.who === 'teacher' ? 'teacher' : `run ${e.index + 1}/${e.total} ${e.who}`;
      if (ev.kind === 'batch') {
        if (sideBySide && e.who !== 'teacher') {
          running.set(e.who, `${e.who} epoch ${ev.epoch}/${ev.epochs} batch ${ev.batch}/${ev.batches}`);
          if (performance.now() - lastStatus >= 20_000) {
            lastStatus = performance.now();
            say(`[students] ${[...running.values()].join('; ')}`);
          }
          return;
        }
        const l = `${label} epoch ${ev.epoch}/${ev.epochs}`;
        if (!bar || barLabel !== l) { stopBar(); progress.start(ev.batches, l, ev.batch - 1); bar = true; barLabel = l; }
        progress.update(ev.batch, `loss ${ev.loss.toFixed(4)} | ${ev.imagesPerSecond.toFixed(0)} img/s`);
      } else if (ev.kind === 'epoch') {
        stopBar();
        say(`${label} epoch ${ev.metrics.epoch}: ${e.who === 'teacher' ? o.evaluatedOn ?? 'test' : split(e.who)} top-1 ${ev.metrics.testTop1.toFixed(2)}% (best ${ev.best.testTop1.toFixed(2)}%), ${ev.metrics.seconds.toFixed(1)} s`);
      } else if (ev.kind === 'done') running.delete(e.who);
      if (ev.kind === 'done' && !ev.recomputed) {
        say(`${label}: finished earlier (best ${ev.results.top1Best.toFixed(2)}%, last ${ev.results.top1Last.toFixed(2)}%), not recomputed`);
      }
    }
  };
  return { onProgress, stopBar };
}
