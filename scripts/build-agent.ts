/**
 * The agent compiled to JavaScript: agent/main.ts bundled by esbuild into one ESM file per driver,
 * each carrying only its own driver (the docker agent no @kubernetes/client-node, the kubernetes
 * agent no dockerode). What `npm run agent`, the docker agent image (scripts/build-agent-image.sh)
 * and the kubernetes agent image (agent/kubernetes/Dockerfile) run; no tsx at run time.
 *
 *   tsx scripts/build-agent.ts                      # dist/agent/docker.mjs and dist/agent/kubernetes.mjs
 *   tsx scripts/build-agent.ts docker OUTFILE       # one driver's bundle at OUTFILE
 *
 * A build fails when a bundle carries a package its driver must not load.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';

export type AgentDriverName = 'docker' | 'kubernetes';
export const AGENT_DRIVERS: readonly AgentDriverName[] = ['docker', 'kubernetes'];

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The other driver's module and client library: left out of a bundle (and checked absent from it). */
const LEFT_OUT: Record<AgentDriverName, { modules: string[]; packages: string[] }> = {
  docker: { modules: ['./kubernetes/driver.js'], packages: ['@kubernetes/client-node'] },
  kubernetes: { modules: ['./docker/driver.js'], packages: ['dockerode', 'docker-modem'] },
};

/**
 * Packages dockerode and docker-modem load at start whose features the docker agent never uses
 * (ssh:// engines, BuildKit sessions and build progress): replaced in the docker bundle by
 * scripts/agent-bundle-unsupported.cjs, which fails any use with a message naming it.
 */
export const UNUSED_BY_DOCKER_AGENT = ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs'];
const UNSUPPORTED_MODULE = path.join(repoRoot, 'scripts', 'agent-bundle-unsupported.cjs');

/**
 * V8 settings a driver's bundle applies to itself as its first statement (v8.setFlagsFromString,
 * before any function has run hot), so every way of starting it — `npm run agent`, the images,
 * `node dist/agent/docker.mjs` — gets them; a flag given on node's command line instead
 * (`node --opt dist/agent/docker.mjs`) wins. NODE_OPTIONS cannot carry these (it allows only a
 * few V8 flags).
 * - docker, `--no-opt`: no TurboFan. Its compiler's code is part of the node binary; compiling
 *   even a few hot functions maps megabytes of it into the agent's resident memory (−3 MiB idle
 *   RSS), while the agent's own work is waiting on docker and small JSON messages: the CPU per
 *   update stayed the same (BENCHMARKS.md, "Docker agent footprint"). The interpreter and the
 *   Sparkplug baseline compiler still run.
 * - kubernetes: none (not measured: its footprint bench needs the Kubernetes control plane).
 */
export const AGENT_V8_FLAGS: Record<AgentDriverName, readonly string[]> = { docker: ['--no-opt'], kubernetes: [] };

/**
 * The banner statements applying a driver's V8 flags, each unless node's command line names it
 * (as --X or --no-X; node:v8 is required only then, though loading it showed no RSS difference
 * in the running agent).
 */
function v8FlagsBanner(driver: AgentDriverName): string {
  return AGENT_V8_FLAGS[driver]
    .map((flag) => {
      const name = flag.replace(/^--(no-)?/, '');
      return `if (!process.execArgv.some((a) => a === '--${name}' || a === '--no-${name}')) require('node:v8').setFlagsFromString('${flag}');`;
    })
    .join(' ');
}

/** Where a driver's bundle goes by default (`npm run agent:build`). */
export function defaultAgentOutfile(driver: AgentDriverName): string {
  return path.join(repoRoot, 'dist', 'agent', `${driver}.mjs`);
}

export function agentBundleOptions(driver: AgentDriverName, outfile: string): BuildOptions & { metafile: true } {
  return {
    absWorkingDir: repoRoot,
    entryPoints: ['agent/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    // ESM with top-level await (agent/main.ts awaits its driver and the agent loop).
    format: 'esm',
    logLevel: 'warning',
    // V8 keeps a module's whole source text in the heap while any of its functions lives: less text,
    // less memory (−2.3 MiB idle for the docker agent). Identifiers are kept, so stack traces still
    // name the functions (renaming them saved no more than the noise; keepNames cost ~1 MiB). The
    // kubernetes bundle is left as it was until its footprint is measured (it needs the control plane).
    minifyWhitespace: driver === 'docker',
    minifySyntax: driver === 'docker',
    metafile: true,
    // agent/main.ts refuses the other driver with a message instead of a missing-module error.
    define: { __DISTR_AGENT_BUNDLED_DRIVER__: JSON.stringify(driver) },
    // cpu-features and *.node: ssh2's optional native add-ons (the kubernetes bundle has no ssh2,
    // the docker bundle replaces it; kept external should a dependency bring them back).
    external: ['cpu-features', '*.node', ...LEFT_OUT[driver].modules, ...LEFT_OUT[driver].packages],
    // dockerode requires these at start for features the docker agent never uses (see the file).
    alias: driver === 'docker' ? Object.fromEntries(UNUSED_BY_DOCKER_AGENT.map((name) => [name, UNSUPPORTED_MODULE])) : {},
    // require(), __filename and __dirname for bundled CommonJS packages (paths they build from
    // __dirname, e.g. dockerode's grpc protos, are only used by features the agent does not call);
    // then the driver's V8 flags (AGENT_V8_FLAGS).
    banner: {
      js: [
        "import { createRequire as __distrCreateRequire } from 'node:module'; import { fileURLToPath as __distrFileUrl } from 'node:url'; import { dirname as __distrDirname } from 'node:path'; const require = __distrCreateRequire(import.meta.url); const __filename = __distrFileUrl(import.meta.url); const __dirname = __distrDirname(__filename);",
        v8FlagsBanner(driver),
      ]
        .filter(Boolean)
        .join(' '),
    },
  };
}

/** The npm packages whose files a bundle carries (from esbuild's metafile), sorted. */
export function bundledPackages(metafile: Metafile): string[] {
  const names = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) names.add(match[1]!);
  }
  return [...names].sort();
}

/** Builds one driver's bundle; throws when it carries a package the driver must not load. */
export async function buildAgentBundle(driver: AgentDriverName, outfile = defaultAgentOutfile(driver)): Promise<{ outfile: string; metafile: Metafile; packages: string[] }> {
  const result = await build(agentBundleOptions(driver, outfile));
  const packages = bundledPackages(result.metafile);
  const forbidden = packages.filter((name) => LEFT_OUT[driver].packages.includes(name));
  if (forbidden.length) throw new Error(`the ${driver} agent bundle carries ${forbidden.join(', ')}`);
  return { outfile, metafile: result.metafile, packages };
}

function isDriver(value: string | undefined): value is AgentDriverName {
  return AGENT_DRIVERS.includes(value as AgentDriverName);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [driver, outfile] = process.argv.slice(2);
  if (driver !== undefined && !isDriver(driver)) {
    console.error(`build-agent: unknown driver ${JSON.stringify(driver)} (expected ${AGENT_DRIVERS.join(' or ')})`);
    process.exit(2);
  }
  try {
    for (const name of driver ? [driver] : AGENT_DRIVERS) {
      const built = await buildAgentBundle(name, outfile ? path.resolve(outfile) : undefined);
      console.error(`build-agent: ${path.relative(process.cwd(), built.outfile)} (${built.packages.length} packages)`);
    }
  } catch (error) {
    console.error(`build-agent: ${(error as Error).message}`);
    process.exit(1);
  }
}
