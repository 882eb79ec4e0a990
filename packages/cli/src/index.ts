/** The `kqkd` command (bin/kqkd.js). The programmatic API is @kqkd/kqkd; this package only parses flags and prints. */
export { main, buildProgram } from './main.js';
