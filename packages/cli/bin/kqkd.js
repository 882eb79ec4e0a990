#!/usr/bin/env node
// The kqkd command. Built output lives in ../dist (run `npm run build` at the repo root first).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv);
