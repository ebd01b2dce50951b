/**
 * Resource types known to the stand-in Kubernetes API server (a test double: no real API server
 * can run on these machines), and the legacy discovery documents built from them. Discovery is
 * served in the legacy (non-aggregated) form; client-go falls back to it when the aggregated
 * discovery media type is not returned.
 */

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Has a /status subresource: writes to the main resource keep the stored status. */
  hasStatus: boolean;
  shortNames?: string[];
}

const CORE_TYPES: ResourceType[] = [
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, hasStatus: true, shortNames: ['ns'] },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, hasStatus: false, shortNames: ['cm'] },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, hasStatus: false },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, hasStatus: true, shortNames: ['svc'] },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, hasStatus: false, shortNames: ['sa'] },
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, hasStatus: true, shortNames: ['po'] },
  { group: '', version: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true, hasStatus: true, shortNames: ['pvc'] },
  { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, hasStatus: false, shortNames: ['ev'] },
];

const APPS_TYPES: ResourceType[] = [
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, hasStatus: true, shortNames: ['deploy'] },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', namespaced: true, hasStatus: true, shortNames: ['sts'] },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true, hasStatus: true, shortNames: ['ds'] },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true, hasStatus: true, shortNames: ['rs'] },
];

const OTHER_TYPES: ResourceType[] = [
  { group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true, hasStatus: true },
  { group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', namespaced: true, hasStatus: true, shortNames: ['cj'] },
  { group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', namespaced: true, hasStatus: true, shortNames: ['ing'] },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true, hasStatus: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true, hasStatus: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false, hasStatus: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false, hasStatus: false },
];

export const RESOURCE_TYPES: readonly ResourceType[] = [...CORE_TYPES, ...APPS_TYPES, ...OTHER_TYPES];

export function groupVersion(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

export function findTypeByPlural(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.plural === plural);
}

/** Find a type by kind, case-insensitively (kind or plural), for the test-facing store accessors. */
export function findTypeByKind(kind: string): ResourceType | undefined {
  const wanted = kind.toLowerCase();
  return RESOURCE_TYPES.find((t) => t.kind.toLowerCase() === wanted || t.plural === wanted);
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** Legacy discovery: APIResourceList for one group version (/api/v1, /apis/apps/v1, ...). */
export function apiResourceList(group: string, version: string): object | null {
  const types = RESOURCE_TYPES.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return null;
  const resources: object[] = [];
  for (const t of types) {
    resources.push({
      name: t.plural,
      singularName: t.kind.toLowerCase(),
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: VERBS,
      ...(t.shortNames ? { shortNames: t.shortNames } : {}),
    });
    if (t.hasStatus) {
      resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] });
    }
    if (t.kind === 'Pod') {
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources };
}

/** Legacy discovery: /api (core versions). */
export function apiVersions(): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }],
  };
}

/** Legacy discovery: /apis (named groups). */
export function apiGroupList(): object {
  const groups = new Map<string, Set<string>>();
  for (const t of RESOURCE_TYPES) {
    if (!t.group) continue;
    if (!groups.has(t.group)) groups.set(t.group, new Set());
    groups.get(t.group)!.add(t.version);
  }
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups].map(([name, versions]) => {
      const list = [...versions].map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: list, preferredVersion: list[0] };
    }),
  };
}

export function apiGroup(group: string): object | null {
  const versions = [...new Set(RESOURCE_TYPES.filter((t) => t.group === group).map((t) => t.version))];
  if (versions.length === 0) return null;
  const list = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: list, preferredVersion: list[0] };
}

export const SERVER_VERSION = {
  major: '1',
  minor: '31',
  gitVersion: 'v1.31.0-standin',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-08-13T00:00:00Z',
  goVersion: 'go1.22.5',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const openApiPathKey = (group: string, version: string) => (group ? `apis/${group}/${version}` : `api/${version}`);

/**
 * OpenAPI v3 discovery root (/openapi/v3). kubectl's validator (used by helm, e.g. for
 * --create-namespace, which validates even with --disable-openapi-validation) reads it to learn
 * that the server validates fields itself (the fieldValidation query parameter) and then skips
 * client-side schema validation, which would need the full protobuf OpenAPI v2 document.
 */
export function openApiV3Root(): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const t of RESOURCE_TYPES) {
    const key = openApiPathKey(t.group, t.version);
    paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=standin` };
  }
  return { paths };
}

/** A minimal OpenAPI v3 document for one group version: a PATCH per kind that takes fieldValidation. */
export function openApiV3GroupVersion(pathKey: string): object | null {
  const types = RESOURCE_TYPES.filter((t) => openApiPathKey(t.group, t.version) === pathKey);
  if (types.length === 0) return null;
  const paths: Record<string, object> = {};
  for (const t of types) {
    const prefix = `/${pathKey}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}/{name}`;
    paths[prefix] = {
      patch: {
        operationId: `patch${t.kind}`,
        'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes stand-in', version: SERVER_VERSION.gitVersion }, paths };
}
