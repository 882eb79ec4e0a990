/** The addon, through the one typed loader of @kqkd/native (shared with @kqkd/train's optimizer step). */
import { invalidArgument } from '@kqkd/common';
import { loadAddon, tryLoadAddon, type NativeAddon, type NativeGeometry } from '@kqkd/native';

export type { NativeAddon, NativeGeometry };

/** Loads the addon once; @kqkd/native throws a clear "build it with ..." error when it is missing. */
export function nativeAddon(): NativeAddon {
  return loadAddon();
}

/**
 * The addon's `mapFile` (a file as a copy-on-write memory mapping, @kqkd/data `readNpy`'s `mapFile` option), or
 * undefined when the addon is not built — readers then read the file as usual. The path is checked here first (a
 * KqkdError naming `path`): a NUL byte would cut it short on its way to the system.
 */
export function nativeFileMapper(): ((path: string) => ArrayBuffer) | undefined {
  const { addon } = tryLoadAddon();
  return addon ? (path: string) => addon.mapFile(checkFilePath(path)) : undefined;
}

/** A file path as the addon's mapFile takes it: a non-empty string without NUL bytes. */
export function checkFilePath(path: unknown): string {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    invalidArgument('path', 'a file path (a non-empty string without NUL bytes)', path);
  }
  return path;
}
