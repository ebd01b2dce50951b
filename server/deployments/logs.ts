import type { EntityManager } from '@mikro-orm/postgresql';
import { PushChannel } from '../agents/channel.js';
import type { BusTopics, EventBus } from '../events/bus.js';
import { builder, vendorOf } from '../schema/builder.js';
import { LogEntry } from './entities.js';
import { DeploymentService } from './service.js';
import { LogEntryRef } from './types.js';

const MAX_TAIL = 1000;
/** Lines read per query while catching up; a follower far behind reads in pages. */
const PAGE = 500;

/**
 * Follow one deployment's log: the newest `tail` stored lines, then every line stored after them,
 * in order. New lines are announced on the bus by row id (logsAppended), so a follower on any hub
 * replica reads exactly the rows after its cursor: none lost, none twice.
 */
function followLogs(rootEm: EntityManager, bus: EventBus, deploymentId: string, tail: number, resource: string | null) {
  let cursor = 0n;
  let reading: Promise<void> | null = null;
  let again = false;
  const filter = resource ? { resource } : {};
  const channel = new PushChannel<LogEntry>({ latestOnly: false, maxQueue: 5000, onClose: () => off() });

  const readNew = async () => {
    for (;;) {
      const rows = await rootEm.fork().find(LogEntry, { deployment: deploymentId, id: { $gt: String(cursor) }, ...filter }, { orderBy: { id: 'asc' }, limit: PAGE });
      for (const row of rows) channel.push(row);
      if (rows.length > 0) cursor = BigInt(rows[rows.length - 1]!.id);
      if (rows.length < PAGE) return;
    }
  };
  const pump = () => {
    if (reading) {
      again = true;
      return;
    }
    reading = readNew()
      .catch(() => {})
      .finally(() => {
        reading = null;
        if (again) {
          again = false;
          pump();
        }
      });
  };
  // Registered before the recent lines are read, so a line stored meanwhile is not missed.
  let started = false;
  const off = bus.on('logsAppended', (e: BusTopics['logsAppended']) => {
    if (e.deploymentId === deploymentId && started && BigInt(e.lastId) > cursor) pump();
  });
  const start = async () => {
    if (tail > 0) {
      const recent = await rootEm.fork().find(LogEntry, { deployment: deploymentId, ...filter }, { orderBy: { id: 'desc' }, limit: tail });
      for (const row of recent.reverse()) channel.push(row);
      if (recent.length > 0) cursor = BigInt(recent[recent.length - 1]!.id);
    } else {
      const newest: { id: string }[] = await rootEm
        .fork()
        .getConnection()
        .execute('select coalesce(max(id), 0)::text as id from log_entry where deployment_id = ?', [deploymentId]);
      cursor = BigInt(newest[0]?.id ?? '0');
    }
    started = true;
    pump(); // lines stored between the read above and `started`
  };
  return { channel, start };
}

builder.subscriptionFields((t) => ({
  deploymentLogs: t.field({
    type: LogEntryRef,
    description:
      "A deployment's log as the agent pushes it (logs must be enabled on its target): the newest `tail` stored lines (oldest first), then each new line as it is stored.",
    authScopes: { vendor: true },
    args: {
      deploymentId: t.arg.id({ required: true }),
      tail: t.arg.int({ defaultValue: 100, description: `Stored lines to send first (0 to ${MAX_TAIL}).` }),
      resource: t.arg.string({ description: 'Only lines of this resource (compose service or pod/container).' }),
    },
    subscribe: async (_r, args, ctx) => {
      const deployment = await new DeploymentService(ctx.em.fork(), vendorOf(ctx), ctx.hub).getDeployment(String(args.deploymentId));
      const tail = Math.min(Math.max(args.tail ?? 100, 0), MAX_TAIL);
      const { channel, start } = followLogs(ctx.hub.rootEm, ctx.hub.bus, deployment.id, tail, args.resource ?? null);
      await start();
      return channel;
    },
    resolve: (line: LogEntry) => line,
  }),
}));
