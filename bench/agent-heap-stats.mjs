// Preloaded into the agent by bench/agent-footprint.ts (node --import): on SIGUSR2, one line
// `distr-heap-stats {...}` on stderr with process.memoryUsage() and V8's heap spaces, in MiB.
// node:v8 is loaded on the first signal, not here: loading it adds ~1.5 MiB RSS, which the idle
// samples taken before the signal must not include.
const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
process.on('SIGUSR2', async () => {
  const { default: v8 } = await import('node:v8');
  const usage = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, mib(s.space_size)]));
  const code = v8.getHeapCodeStatistics();
  process.stderr.write(`distr-heap-stats ${JSON.stringify({ rss: mib(usage.rss), heap_total: mib(usage.heapTotal), heap_used: mib(usage.heapUsed), external: mib(usage.external), array_buffers: mib(usage.arrayBuffers), code_and_metadata: mib(code.code_and_metadata_size), bytecode_and_metadata: mib(code.bytecode_and_metadata_size), spaces })}\n`);
});
