/** @kqkd/common — the one place for argument errors, atomic writes and seeded randomness. */
export { KqkdError, RunFailedError, FolderBusyError, describeValue, invalidArgument, invalidArgumentText, expectInteger, expectOneOf } from './errors.js';
export { writeFileAtomic, injectWriteFault, writeAllSync, isAtomicTemp } from './atomic.js';
export { checkOutputFolder, formatBytes, fsErrorText, isSpecialPath, makeDirs, systemError, type OutputFolderOptions } from './fs.js';
export { createRng, type Rng } from './rng.js';
export { keyedRegistry, type Registry } from './registry.js';
export { acquireRunLock, claimFolder, processAlive, ownFolder, LOCK_FILE, MARKER_FILE, type RunLock, type RunLockOptions, type FolderClaim, type OwnedFolder } from './run-folder.js';
