import { createRng, invalidArgumentText } from '@kqkd/common';

/** KQ-SPEC §0 sizes: M takes floor(5000 / C) per class, P takes min(500, floor(N / C)) per class. */
export const MAIN_SUBSET_TOTAL = 5000;
export const CLASS_SUBSET_MAX_PER_CLASS = 500;

export interface Subsets {
  /** M: the main subset (separation, efficiency). */
  mainIndices: number[];
  /** P: the class-PCA subset (information). */
  classIndices: number[];
  source: 'seeded' | 'explicit';
  seed?: number;
}

export function numClassesOf(labels: ArrayLike<number>): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
  return max + 1;
}

function indicesByClass(labels: ArrayLike<number>, numClasses: number): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      invalidArgumentText('labels', `integer labels in [0, ${numClasses})`, `${c} at row ${i}`);
    }
    byClass[c].push(i);
  }
  return byClass;
}

/**
 * Draws M and P once per model (shared by all its layers), class-stratified, from a seeded generator.
 * Two independent draws, as in the reference: P is not a subset of M in general.
 */
export function drawSubsets(labels: ArrayLike<number>, seed: number): Subsets {
  const numClasses = numClassesOf(labels);
  if (numClasses < 2) invalidArgumentText('labels', 'at least 2 classes', `${Math.max(numClasses, 0)} class(es)`);
  const byClass = indicesByClass(labels, numClasses);
  const rng = createRng(seed);
  const mainPerClass = Math.floor(MAIN_SUBSET_TOTAL / numClasses);
  const classPerClass = Math.min(CLASS_SUBSET_MAX_PER_CLASS, Math.floor(labels.length / numClasses));
  const mainIndices: number[] = [];
  const classIndices: number[] = [];
  for (const members of byClass) mainIndices.push(...rng.sample(members, mainPerClass));
  for (const members of byClass) classIndices.push(...rng.sample(members, classPerClass));
  return { mainIndices, classIndices, source: 'seeded', seed };
}

/** Explicit subsets (e.g. from index files); validated later by @kqkd/geometry against the features. */
export function explicitSubsets(mainIndices: ArrayLike<number | bigint>, classIndices: ArrayLike<number | bigint>): Subsets {
  return {
    mainIndices: Array.from(mainIndices, Number),
    classIndices: Array.from(classIndices, Number),
    source: 'explicit',
  };
}
