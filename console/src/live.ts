/** One organizationEvents subscription shared by every page: pages re-render on each event. */
import { useEffect, useState } from 'react';
import { EventsDocument, type EventsSubscription } from './generated/graphql.js';
import { subscribe } from './api.js';

export type OrgEvent = EventsSubscription['organizationEvents'];
type Listener = (e: OrgEvent) => void;
const listeners = new Set<Listener>();
export const recentEvents: (OrgEvent & { at: string })[] = [];
let stop: (() => void) | null = null;

export function startEvents(onError: (m: string) => void): void {
  stop ??= subscribe(EventsDocument, {}, (d) => {
    recentEvents.unshift({ ...d.organizationEvents, at: new Date().toISOString() });
    recentEvents.length = Math.min(recentEvents.length, 50);
    for (const l of listeners) l(d.organizationEvents);
  }, onError);
}

/** Call `handler` for every event while mounted. */
export function useEvents(handler: Listener): void {
  useEffect(() => {
    listeners.add(handler);
    return () => void listeners.delete(handler);
  }, [handler]);
}

/** A counter that increments on each event: a cheap way to re-render. */
export function useEventTick(): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return tick;
}
