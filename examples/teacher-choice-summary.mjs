#!/usr/bin/env node
// The table and the Spearman ρ of the teacher-choice study (docs/RESULTS.md §7), from what
// examples/teacher-choice-study.sh left in its folder: score/ranking.json (each teacher's KQ summary, own validation
// top-1, parameters) and students/<teacher>/seed-<s>/report.json (each student's validation top-1, best and last
// epoch). Writes <folder>/study.md and study.json and prints the markdown.
//
//   node examples/teacher-choice-summary.mjs runs/teacher-choice
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const folder = process.argv[2] ?? 'runs/teacher-choice';
const ranking = JSON.parse(readFileSync(join(folder, 'score', 'ranking.json'), 'utf8'));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Ranks 1..n, ties sharing the average of their ranks. */
function ranks(values) {
  const order = values.map((v, i) => [v, i]).sort((a, b) => a[0] - b[0]);
  const r = new Array(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's ρ: Pearson's correlation of the ranks. */
function spearman(x, y) {
  const rx = ranks(x);
  const ry = ranks(y);
  const mx = mean(rx);
  const my = mean(ry);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

const rows = ranking.teachers.map((t) => {
  const dir = join(folder, 'students', t.name);
  const seeds = existsSync(dir) ? readdirSync(dir).filter((s) => existsSync(join(dir, s, 'report.json'))).sort() : [];
  const reports = seeds.map((s) => JSON.parse(readFileSync(join(dir, s, 'report.json'), 'utf8')));
  return {
    name: t.name, rank: t.rank, kqSummary: t.kqSummary, teacherTop1: t.validationTop1, parameters: t.parameters,
    seeds: seeds.length,
    last: reports.map((r) => r.student.validationTop1Last),
    best: reports.map((r) => r.student.validationTop1),
    seconds: reports.map((r) => r.student.seconds),
  };
});
const done = rows.filter((r) => r.seeds > 0);
for (const r of done) { r.lastMean = mean(r.last); r.bestMean = mean(r.best); }
const target = done.map((r) => r.lastMean);
const rho = {
  kqSummary: spearman(done.map((r) => r.kqSummary), target),
  teacherTop1: spearman(done.map((r) => r.teacherTop1), target),
  parameters: spearman(done.map((r) => r.parameters), target),
};
const bestStudent = Math.max(...target);
const top = rows.reduce((a, b) => (a.rank < b.rank ? a : b)); // KQ's choice among all candidates, trained or not
const f = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(d));
const lines = [
  '| KQ rank | teacher | KQ summary | teacher val top-1 | parameters | student val top-1, last (per seed) | mean last | mean best |',
  '|---:|---|---:|---:|---:|---|---:|---:|',
  ...rows.map((r) => `| ${r.rank} | ${r.name} | ${f(r.kqSummary, 3)} | ${f(r.teacherTop1)} | ${r.parameters?.toLocaleString('en-US') ?? '–'} | ` +
    `${r.last.map((x) => f(x)).join(', ') || '–'} | ${f(r.lastMean)} | ${f(r.bestMean)} |`),
  '',
  `Spearman ρ with the students' mean last-epoch validation top-1 (${done.length} teachers): KQ summary ${f(rho.kqSummary)}, ` +
    `teacher's own validation top-1 ${f(rho.teacherTop1)}, parameter count ${f(rho.parameters)}.`,
  top.seeds === 0
    ? `KQ's top-ranked teacher: ${top.name}, no student trained from it (the best student: ${f(bestStudent)}).`
    : `KQ's top-ranked teacher: ${top.name}, its students ${f(top.lastMean)} against the best ${f(bestStudent)} ` +
      `(${f(top.lastMean - bestStudent)} points; target ≥ −0.30).`,
  `Students done: ${done.map((r) => `${r.name} ${r.seeds}`).join(', ')} (seeds each); students' training ` +
    `${f(done.reduce((a, r) => a + r.seconds.reduce((x, y) => x + y, 0), 0), 0)} s in all.`,
];
const md = `${lines.join('\n')}\n`;
writeFileSync(join(folder, 'study.md'), md);
writeFileSync(join(folder, 'study.json'), `${JSON.stringify({ rows, rho, top: top.name, bestStudent }, null, 2)}\n`);
process.stdout.write(md);
