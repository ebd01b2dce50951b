/** One organizationEvents subscription shared by every page: pages re-render on each event. */
import { useCallback, useEffect, useRef, useState } from 'react';
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

/**
 * Run `action` after events for which `wanted` is true: at once after a quiet spell, and at most
 * once per `ms` during a burst (10 000 agents reconnecting must not mean 10 000 re-reads).
 */
export function useThrottledOnEvents(wanted: (e: OrgEvent) => boolean, ms: number, action: () => void): void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const last = useRef(0);
  const latest = useRef(action);
  latest.current = action;
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  useEvents(
    useCallback((e: OrgEvent) => {
      if (!wanted(e) || timer.current) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        last.current = Date.now();
        latest.current();
      }, Math.max(0, last.current + ms - Date.now()));
      // eslint-disable-next-line react-hooks/exhaustive-deps
    }, []),
  );
}
