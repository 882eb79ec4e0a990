// Types of tools/code-size.mjs (the architecture test imports it).
export const MAX_FILE_LINES: number;
export const MAX_FUNCTION_LINES: number;
export function packages(root?: string): string[];
export function linesPerPackage(root?: string): { total: number; rows: { pkg: string; lines: number; share: number }[] };
export function largeFiles(root?: string, max?: number): { path: string; lines: number }[];
export function longFunctions(root?: string, max?: number): { path: string; line: number; name: string; lines: number }[];
export function filesPerRun(root?: string): { paths: string[]; missing: string[] };
export function figuresBlock(root?: string): string;
export function documentedBlock(root?: string): string | undefined;
