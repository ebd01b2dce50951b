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

/** Cursor paging over a Relay connection: the `after` cursor of each page visited, the last one shown. */
export function usePages(): { after: string | null; page: number; next: (endCursor: string | null | undefined) => void; previous: () => void } {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return {
    after: cursors[cursors.length - 1]!,
    page: cursors.length - 1,
    next: (endCursor) => endCursor && setCursors((c) => [...c, endCursor]),
    previous: () => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)),
  };
}

export function Pager({ pages, size, shown, hasNext }: { pages: ReturnType<typeof usePages> & { endCursor?: string | null }; size: number; shown: number; hasNext: boolean }) {
  if (pages.page === 0 && !hasNext) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button disabled={pages.page === 0} onClick={pages.previous}>Previous</button>
      <span data-testid="page-range">
        {pages.page * size + 1}–{pages.page * size + shown}
      </span>
      <button disabled={!hasNext} onClick={() => pages.next(pages.endCursor)}>Next</button>
    </nav>
  );
}
