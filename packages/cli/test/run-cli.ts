// Runs the kqkd CLI in-process and captures what it prints (shared by the CLI tests).
import { vi } from 'vitest';
import { main } from '../src/main.js';

export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => { stdout += String(c); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { stderr += String(c); return true; });
  try {
    return { code: await main(['node', 'kqkd', ...args]), stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}
