// summary: one page over every benchmark — reads bench/results/*.jsonl (tools/bench's drivers and native's
// geometry-cpu), keeps the latest line of each benchmark configuration and writes bench/results/summary.json and
// summary.md (the machine, then per configuration its headline ratio, the goal and whether it is met; summary-lib.mjs).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine, repoRoot } from './lib.mjs';
import { summarizeResults, summaryMarkdown } from './summary-lib.mjs';

const dir = join(repoRoot, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()
  .map((f) => ({ name: f.slice(0, -'.jsonl'.length), text: readFileSync(join(dir, f), 'utf8') }));
const summary = summarizeResults(files, { machine: machine(), date: new Date().toISOString() });
const md = summaryMarkdown(summary);
writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync(join(dir, 'summary.md'), md);
process.stdout.write(md);
console.log(`\nwrote ${join(dir, 'summary.md')} and summary.json (${summary.rows.length} rows from ${files.length} files)`);
