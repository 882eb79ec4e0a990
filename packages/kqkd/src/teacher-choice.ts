/**
 * `distill` with several teachers: the candidates ranked by Knowledge Quality (`scoreTeachers`, into `OUT/teachers/`;
 * or, with `rankBy: 'validation-top1'`, by their own top-1 on the validation images) on the very images and settings the distillation then uses — the KQ sample drawn from the training images it trains
 * on (`kqSamples`, seed of the experiment's KQ), the same rule and k, the teachers' top-1 on its validation images —
 * and the top-ranked one chosen. The ranking is deterministic and reused on a re-run with the same candidates and
 * options, so a resumed distillation chooses the same teacher.
 */
import { join } from 'node:path';
import { KqkdError } from '@kqkd/common';
import type { ExperimentConfig } from '@kqkd/experiment';
import { scoreTeachers } from './score-teachers.js';
import { rankByTitle, rankingTableMarkdown, type RankBy, type RankedTeacher, type TeacherRanking } from './teacher-ranking.js';

export interface TeacherChoice {
  /** The chosen teacher: rank 1 of the ranking. */
  file: string;
  name: string;
  /** Why, in one sentence. */
  reason: string;
  /** The criterion that ranked the candidates. */
  rankBy: RankBy;
  /** The rule and k whose layers the KQ summary averages. */
  selection: TeacherRanking['selection'];
  /** Every candidate in rank order (the table of report.md). */
  ranking: RankedTeacher[];
  /** The held-out images the teachers' top-1 was measured on, and the caveat for teachers trained on them. */
  validation: TeacherRanking['data']['validation'];
  /** Whether an earlier run's ranking was reused; the ranking's files. */
  reused: boolean;
  files: { json: string; markdown: string; picture: string };
}

export interface ChooseTeacherOptions {
  teachers: readonly string[];
  data: ExperimentConfig['dataset']['name'];
  dataDir?: string;
  dataOptions?: Record<string, unknown>;
  /** The distillation's experiment (teacher: the first candidate): its KQ sample, rule, k, validation and training images. */
  config: ExperimentConfig;
  /** What orders the candidates (default `kq`). */
  rankBy?: RankBy;
  out: string;
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (e: { teacher: string; teacherIndex: number; teachers: number; stage: string; done: number; total: number }) => void;
}

const fmt = (v: number | null) => (v === null ? 'none' : v.toFixed(4));

/** Why the first-ranked teacher, in one sentence naming the criterion. */
function reasonOf(ranking: TeacherRanking): string {
  const [best, next] = ranking.teachers;
  const n = ranking.teachers.length;
  const layers = `the layers ${best.layers.join(', ')} that rule ${ranking.selection.rule} picks, k = ${ranking.selection.k}`;
  if (ranking.rankBy === 'validation-top1') {
    const margin = next ? `; next: ${next.name} at ${next.validationTop1.toFixed(2)} %` : '';
    return `${best.name} ranks first of ${n} candidates by validation top-1 (its own top-1 on the ${ranking.data.validation.images} held-out ` +
      `training images): ${best.validationTop1.toFixed(2)} %${margin}; its KQ summary (mean Q of ${layers}): ${fmt(best.kqSummary)}`;
  }
  const margin = next ? `; next: ${next.name} at ${fmt(next.kqSummary)}` : '';
  return `${best.name} ranks first of ${n} candidates by the KQ summary (the mean Q of ${layers}): ${fmt(best.kqSummary)}${margin}`;
}

/** Ranks the candidates into `out/teachers/` and returns the top-ranked one with the reason. */
export async function chooseTeacher(o: ChooseTeacherOptions): Promise<TeacherChoice> {
  const c = o.config;
  const r = await scoreTeachers({
    models: o.teachers, data: o.data, ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.dataOptions ? { dataOptions: o.dataOptions as never } : {}),
    samples: c.kq.samples, seed: c.kq.seed, topK: c.distill.k, selection: c.distill.selection, ...(o.rankBy !== undefined ? { rankBy: o.rankBy } : {}),
    ...(c.dataset.validation !== undefined ? { validation: c.dataset.validation } : {}),
    ...(c.dataset.trainLimit !== undefined ? { trainLimit: c.dataset.trainLimit } : {}),
    ...(o.threads !== undefined ? { inferenceThreads: o.threads } : {}), ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    out: join(o.out, 'teachers'),
  }).catch((err: unknown) => {
    // a candidate refused by the ranking is one of the teachers given
    if (err instanceof KqkdError && err.argument === 'model') throw new KqkdError('teacher', err.expected, err.received, err.detail);
    throw err;
  });
  const ranking = r.ranking;
  const best = ranking.teachers[0];
  return {
    file: best.file, name: best.name, reason: reasonOf(ranking), rankBy: ranking.rankBy,
    selection: ranking.selection, ranking: ranking.teachers, validation: ranking.data.validation, reused: r.reused,
    files: { json: r.files.ranking, markdown: r.files.markdown, picture: r.files.png },
  };
}

/** The teacher-choice section of report.md. */
export function teacherChoiceMarkdown(t: TeacherChoice): string[] {
  const ranking = { selection: t.selection, teachers: t.ranking } as TeacherRanking;
  const ties = t.rankBy === 'validation-top1' ? 'the higher KQ summary' : 'the higher validation top-1';
  return [
    '## Teacher choice',
    '',
    `${t.reason}. Ranked by ${rankByTitle(t.rankBy)} (\`rankBy: ${t.rankBy}\`). Every candidate was scored on the same class-balanced ` +
      `sample of the training images the student trains on; ties go to ${ties}, then to the name. \`teachers/ranking.md\` has the details, ` +
      '`teachers/teachers-kq.png` every candidate\'s Q per relative depth.',
    '',
    ...rankingTableMarkdown(ranking),
    '',
    `Validation top-1: ${t.validation.note}`,
    '',
  ];
}
