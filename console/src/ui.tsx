import { useEffect, useState } from 'react';

export function Phase({ phase }: { phase: string | null | undefined }) {
  return <span className={`phase phase-${phase ?? 'none'}`}>{phase ?? 'pending'}</span>;
}

export function Online({ connected }: { connected: boolean }) {
  return <span className={`phase ${connected ? 'online' : 'offline'}`}>{connected ? 'connected' : 'offline'}</span>;
}

export function ErrorNote({ error }: { error: string | null }) {
  return error ? <p role="alert" className="error">{error}</p> : null;
}

/** Load once (and again whenever `deps` change); errors shown with the hub's message. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setError(null)),
      (e: Error) => live && setError(e.message),
    );
    return () => void (live = false);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}
