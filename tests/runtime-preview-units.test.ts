/** The pure parts of runtime previews: secret redaction (shared by agent and hub) and what `up` would do per service. */
import { expect, test } from 'vitest';
import { redactSecrets } from '../protocol/index.js';
import { imagesOf, parseHashes, serviceChanges } from '../agent/docker/preview.js';
import { redactedReport } from '../agent/core/previews.js';
import { comparable, imageOf, parseManifest } from '../agent/kubernetes/preview.js';

test('every form of a secret value becomes its placeholder; short values only as whole words', () => {
  const secrets = [
    { name: 'PW', value: 'pa$$"word\nx' },
    { name: 'PIN', value: '42' },
    { name: 'LONG', value: 'abcdefgh' },
    { name: 'LONGER', value: 'abcdefghij' },
  ];
  expect(redactSecrets('raw pa$$"word\nx', secrets)).toBe('raw [redacted secrets.PW]');
  expect(redactSecrets('yaml "pa$$\\"word\\nx"', secrets)).toBe('yaml "[redacted secrets.PW]"');
  expect(redactSecrets('compose pa$$$$"word\nx', secrets)).toBe('compose [redacted secrets.PW]');
  expect(redactSecrets('PIN: 42, port 4242, v42', secrets)).toBe('PIN: [redacted secrets.PIN], port 4242, v42');
  // The longer value first, so its tail is not left behind.
  expect(redactSecrets('abcdefghij abcdefgh', secrets)).toBe('[redacted secrets.LONGER] [redacted secrets.LONG]');
  expect(redactSecrets('nothing here', [])).toBe('nothing here');
});

test('the agent redacts every text of its answer and cuts an oversized diff, saying so', () => {
  const r = redactedReport(
    { previewId: 'p', diff: 'x'.repeat(600 * 1024) + 'top-secret-1', error: 'top-secret-1 failed', services: [{ name: 'a', change: 'added', imageAfter: 'reg/top-secret-1:1' }] },
    { redact: [{ name: 'S', value: 'top-secret-1' }] },
  );
  expect(JSON.stringify(r)).not.toContain('top-secret-1');
  expect(r.error).toBe('[redacted secrets.S] failed');
  expect(r.services![0]!.imageAfter).toBe('reg/[redacted secrets.S]:1');
  expect(r.diff!.length).toBe(512 * 1024);
  expect(r.message).toBe('diff cut at 524288 characters');
});

test('a service is recreated when a running container carries another config hash, added when none runs, removed when the candidate drops it', () => {
  const hashes = parseHashes('web aaa\ncache bbb\nsame ccc\n');
  const images = imagesOf('services:\n  web:\n    image: new:2\n  cache:\n    image: redis:7\n  same:\n    image: s:1\n');
  const running = [
    { service: 'web', image: 'old:1', configHash: 'zzz' },
    { service: 'same', image: 's:1', configHash: 'ccc' },
    { service: 'same', image: 's:1', configHash: 'ccc' },
    { service: 'gone', image: 'g:1', configHash: 'ggg' },
  ];
  expect(serviceChanges(hashes, images, running)).toEqual([
    { name: 'cache', change: 'added', imageBefore: null, imageAfter: 'redis:7' },
    { name: 'gone', change: 'removed', imageBefore: 'g:1', imageAfter: null },
    { name: 'same', change: 'unchanged', imageBefore: 's:1', imageAfter: 's:1' },
    { name: 'web', change: 'recreated', imageBefore: 'old:1', imageAfter: 'new:2' },
  ]);
  // One replica with an old hash is enough for compose to recreate.
  expect(serviceChanges(new Map([['same', 'ccc']]), new Map(), [...running.slice(1, 3), { service: 'same', image: 's:1', configHash: 'old' }])[0]!.change).toBe('recreated');
});

test('kubernetes objects are compared without server bookkeeping or status, and Secret data is never shown', () => {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', resourceVersion: '7', uid: 'u', managedFields: [{}], creationTimestamp: new Date(0), generation: 2, labels: { a: 'b' } }, data: { b: 'c2VjcmV0', a: 'eA==' }, stringData: { p: 'plain' }, status: {} };
  expect(comparable(secret)).toEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', labels: { a: 'b' } }, data: { a: '[redacted]', b: '[redacted]' }, stringData: { p: '[redacted]' } });
  expect(comparable({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } })!.data).toEqual({ k: 'v' });
  expect(imageOf({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { containers: [{ image: 'web:2' }] } } } })).toBe('web:2');
  expect(imageOf({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'j' }, spec: { jobTemplate: { spec: { template: { spec: { containers: [{ image: 'job:1' }] } } } } } })).toBe('job:1');
  expect(parseManifest('---\n# comment only\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n').map((o) => o.metadata?.name)).toEqual(['a']);
});
