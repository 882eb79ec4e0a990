// Types of summary-lib.mjs (for the TypeScript test that imports it).
export interface SummaryMachine { cpu: string; cores: number; node: string; platform?: string }
export interface SummaryRow {
  benchmark: string;
  /** The configuration the line measured (e.g. "resnet9 3×32×32, batch 128"). */
  config: string;
  /** What the ratio is. */
  headline: string;
  ratio: number | null;
  goal: { op: '≤' | '≥'; value: number } | null;
  met: 'yes' | 'no' | 'n/a' | 'skipped' | '–';
  date: string | null;
  note: string;
}
export interface BenchSummary {
  date: string;
  machine: SummaryMachine;
  rows: SummaryRow[];
  unparsableLines: Record<string, number>;
}
export declare const BENCHMARK_ORDER: readonly string[];
export declare function summarizeResults(files: readonly { name: string; text: string }[], o: { machine: SummaryMachine; date: string }): BenchSummary;
export declare function summaryMarkdown(summary: BenchSummary): string;
