import { describe, expect, test } from 'vitest';
import { InvalidInputError } from '../server/errors.js';
import { matchesSelector, parseSelector, validateLabels } from '../server/labels/labels.js';
import { decideStep, validateStrategy, waveSizes, type MemberView } from '../server/rollouts/plan.js';
import { isWindowOpen, nextWindowOpening, validateTimeZone, validateWindows } from '../server/rollouts/windows.js';

describe('labels and selectors', () => {
  test('labels are validated like Kubernetes labels', () => {
    expect(validateLabels('labels', [{ key: 'region', value: 'eu' }, { key: 'example.com/tier', value: 'gold' }, { key: 'empty', value: '' }])).toEqual({
      region: 'eu',
      'example.com/tier': 'gold',
      empty: '',
    });
    for (const bad of [{ key: '', value: 'x' }, { key: '-a', value: 'x' }, { key: 'a'.repeat(64), value: 'x' }, { key: 'Bad_Prefix/x', value: 'x' }, { key: 'k', value: 'has space' }, { key: 'k', value: 'v'.repeat(64) }]) {
      expect(() => validateLabels('labels', [bad])).toThrow(InvalidInputError);
    }
    expect(() => validateLabels('labels', [{ key: 'a', value: '1' }, { key: 'a', value: '2' }])).toThrow(/given twice/);
  });

  test('equality and set-based selectors with Kubernetes semantics', () => {
    const s = parseSelector('selector', 'region=eu, tier in (gold,silver),!legacy');
    expect(s.requirements).toEqual([
      { key: 'region', op: 'in', values: ['eu'] },
      { key: 'tier', op: 'in', values: ['gold', 'silver'] },
      { key: 'legacy', op: 'notexists' },
    ]);
    expect(matchesSelector(s, { region: 'eu', tier: 'gold' })).toBe(true);
    expect(matchesSelector(s, { region: 'eu', tier: 'bronze' })).toBe(false);
    expect(matchesSelector(s, { region: 'eu', tier: 'silver', legacy: '' })).toBe(false);
    expect(matchesSelector(parseSelector('s', 'region!=us'), {})).toBe(true);
    expect(matchesSelector(parseSelector('s', 'tier notin (gold)'), { tier: 'gold' })).toBe(false);
    expect(matchesSelector(parseSelector('s', 'tier'), { tier: 'x' })).toBe(true);
    expect(matchesSelector(parseSelector('s', 'region==eu'), { region: 'eu' })).toBe(true);
    expect(matchesSelector(parseSelector('s', ''), { any: 'thing' })).toBe(true);
    for (const bad of ['region=eu=x', 'tier in (gold', 'a b', '=x', 'tier in (go ld)', 'k=v,']) {
      expect(() => parseSelector('selector', bad), bad).toThrow(InvalidInputError);
    }
  });
});

describe('maintenance windows', () => {
  test('weekly ranges in the target zone, over midnight and across a DST change', () => {
    const w = validateWindows('w', [{ days: ['sat'], start: '22:00', end: '02:00' }]);
    // Saturday 2026-03-28 23:30 in Berlin (UTC+1) = 22:30 UTC.
    expect(isWindowOpen(w, 'Europe/Berlin', new Date('2026-03-28T22:30:00Z'))).toBe(true);
    // Sunday 01:30 Berlin (still in the window that began on Saturday).
    expect(isWindowOpen(w, 'Europe/Berlin', new Date('2026-03-29T00:30:00Z'))).toBe(true);
    expect(isWindowOpen(w, 'Europe/Berlin', new Date('2026-03-28T12:00:00Z'))).toBe(false);
    expect(nextWindowOpening(w, 'Europe/Berlin', new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-28T21:00:00.000Z');
    // After the change to summer time (UTC+2) the same local time is an hour earlier in UTC.
    expect(nextWindowOpening(w, 'Europe/Berlin', new Date('2026-03-30T12:00:00Z')).toISOString()).toBe('2026-04-04T20:00:00.000Z');
    expect(isWindowOpen([], 'UTC', new Date())).toBe(true);
    expect(() => validateTimeZone('timeZone', 'Mars/Olympus')).toThrow(/IANA/);
    expect(() => validateWindows('w', [{ days: ['someday'], start: '10:00', end: '11:00' }])).toThrow(/not a day/);
    expect(() => validateWindows('w', [{ days: ['mon'], start: '25:00', end: '11:00' }])).toThrow(/HH:MM/);
  });
});

describe('waves and steps', () => {
  test('canary, then counts and percentages; the rest forms a last wave', () => {
    expect(waveSizes(20, { canary: 2, waves: [{ count: 8 }] })).toEqual([2, 8, 10]);
    expect(waveSizes(20, { canary: 1, waves: [{ percent: 25 }, { percent: 75 }] })).toEqual([1, 5, 14]);
    expect(waveSizes(3, { canary: 5, waves: [{ count: 2 }] })).toEqual([3]);
    expect(waveSizes(1000, { canary: 10, waves: [{ percent: 30 }, { percent: 30 }, { percent: 40 }] })).toEqual([10, 300, 300, 390]);
    expect(() => validateStrategy({ waves: [{ count: 1, percent: 2 }] })).toThrow(/either count or percent/);
    expect(() => validateStrategy({ canary: 0 })).toThrow(/strategy.canary/);
  });

  const strategy = validateStrategy({ canary: 2, soakSeconds: 60, maxFailed: 0, maxUpdating: 2 });
  const now = new Date('2026-01-01T12:00:00Z');
  const at = (s: number) => new Date(now.getTime() + s * 1000);
  const member = (id: string, over: Partial<MemberView> = {}): MemberView => ({
    id,
    deploymentId: `d-${id}`,
    state: 'pending',
    toRevisionId: null,
    movedAt: null,
    healthySince: null,
    status: null,
    windowOpen: true,
    nextWindowAt: null,
    ...over,
  });

  test('moves pending members up to maxUpdating, skipping closed windows', () => {
    const d = decideStep([member('a', { windowOpen: false, nextWindowAt: at(3600) }), member('b'), member('c'), member('d')], strategy, now);
    expect(d.move).toEqual(['b', 'c']);
    expect(d.outcome.kind).toBe('running');
    expect(d.wakeAt).toEqual(at(3600));
  });

  test('healthy at the new revision soaks, then passes; error during the soak halts', () => {
    const soaking = member('a', { state: 'updating', toRevisionId: 'r2', movedAt: at(-100), status: { revisionId: 'r2', phase: 'healthy', message: '', changedAt: at(-30) } });
    const d1 = decideStep([soaking], strategy, now);
    expect(d1.changes).toEqual([{ id: 'a', state: 'soaking', healthySince: at(-30) }]);
    expect(d1.wakeAt).toEqual(at(30));
    const d2 = decideStep([{ ...soaking, state: 'soaking', healthySince: at(-61) }], strategy, now);
    expect(d2.changes[0]).toMatchObject({ id: 'a', state: 'passed' });
    expect(d2.outcome.kind).toBe('passed');
    const flipped = { ...soaking, state: 'soaking' as const, healthySince: at(-30), status: { revisionId: 'r2', phase: 'error', message: 'boom', changedAt: now } };
    const d3 = decideStep([flipped, member('b')], strategy, now);
    expect(d3.outcome).toEqual({ kind: 'halted', reason: '1 deployment of the wave failed', failed: ['d-a'] });
    expect(d3.move).toEqual([]);
  });

  test('a status of the old revision is not health; the progress deadline fails it', () => {
    const m = member('a', { state: 'updating', toRevisionId: 'r2', movedAt: at(-601), status: { revisionId: 'r1', phase: 'healthy', message: 'old', changedAt: at(-700) } });
    const d = decideStep([m], validateStrategy({ progressDeadlineSeconds: 600 }), now);
    expect(d.changes[0]).toMatchObject({ state: 'failed' });
    expect(d.changes[0]!.message).toMatch(/not healthy within 600 s/);
  });

  test('failures within maxFailed are tolerated', () => {
    const tolerant = validateStrategy({ canary: 2, maxFailed: 1 });
    const failed = member('a', { state: 'failed' });
    const passed = member('b', { state: 'passed' });
    expect(decideStep([failed, passed], tolerant, now).outcome.kind).toBe('passed');
    expect(decideStep([failed, passed], tolerant, now, 1).outcome.kind).toBe('halted');
  });
});
