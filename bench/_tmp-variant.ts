import { build } from 'esbuild';
import { agentBundleOptions } from '../scripts/build-agent.js';
const [out, variant] = process.argv.slice(2);
const o = agentBundleOptions('docker', out!);
if (variant?.includes('min')) Object.assign(o, { minifyWhitespace: true, minifySyntax: true, keepNames: true, legalComments: 'none' });
await build(o);
