/** Entry point of the `distr` CLI (see program.ts; bin.js runs this through tsx). */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv);
