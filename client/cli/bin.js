#!/usr/bin/env node
// The `distr` bin. There is no build step: register tsx's ESM loader in this process (tsx is a
// regular dependency) and run the TypeScript entry point directly, so signals and exit codes are
// the CLI's own.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
