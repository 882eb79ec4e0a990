/** Every error kqkd raises on purpose: it names the argument, what was expected and what was received. */
export class KqkdError extends Error {
  readonly argument: string;
  readonly expected: string;
  readonly received: string;
  /** What else helps (the file it came from, more problems, how to recover). */
  readonly detail?: string;
  constructor(argument: string, expected: string, received: string, detail?: string) {
    super(`Expected ${expected} for ${argument} but received ${received}${detail ? ` (${detail})` : ''}`);
    this.name = 'KqkdError';
    this.argument = argument;
    this.expected = expected;
    this.received = received;
    if (detail !== undefined) this.detail = detail;
  }
}

/**
 * A run that failed although its inputs were valid (it diverged): the error names where, what was expected and what
 * came, like any KqkdError; commands exit with the run-failure code instead of the input-error one.
 */
export class RunFailedError extends KqkdError {
  constructor(argument: string, expected: string, received: string, detail?: string) {
    super(argument, expected, received, detail);
    this.name = 'RunFailedError';
  }
}

/**
 * A folder another live kqkd process holds (its lock): the input is fine, the folder is busy. Queue workers try such a
 * run again later instead of failing it.
 */
export class FolderBusyError extends KqkdError {
  constructor(argument: string, expected: string, received: string, detail?: string) {
    super(argument, expected, received, detail);
    this.name = 'FolderBusyError';
  }
}

/** Short, bounded description of a value for error messages: `0 of type number`, `Int8Array(3)`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    const n = (value as unknown as { length?: number }).length ?? value.byteLength;
    return `${value.constructor.name}(${n})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}" of type string`;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return `${String(value)} of type ${typeof value}`;
  }
  return `value of type ${typeof value}`;
}

/** Throws a KqkdError built from the received value. */
export function invalidArgument(argument: string, expected: string, received: unknown, detail?: string): never {
  throw new KqkdError(argument, expected, describeValue(received), detail);
}

/** Throws a KqkdError whose "received" part is already a description (e.g. "NaN at row 3, column 7"). */
export function invalidArgumentText(argument: string, expected: string, receivedText: string): never {
  throw new KqkdError(argument, expected, receivedText);
}

export function expectInteger(argument: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = Number.isFinite(min) && Number.isFinite(max) ? ` between ${min} and ${max}`
      : Number.isFinite(min) ? ` >= ${min}` : Number.isFinite(max) ? ` <= ${max}` : '';
    invalidArgument(argument, `integer${range}`, value);
  }
  return value;
}

export function expectOneOf<T extends string>(argument: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    invalidArgument(argument, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  }
  return value as T;
}
