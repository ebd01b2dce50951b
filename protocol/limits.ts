/** Sizes both sides agree on: the hub refuses more, the agent never sends more. */

/** Largest log batch the hub accepts in one agentPushLogs call. */
export const MAX_LOG_BATCH = 500;
/** Most status reports in one agentReportStatus call. */
export const MAX_STATUS_REPORTS = 200;
/** Longest status message stored (longer ones are cut); agents may send docker's or helm's whole stderr. */
export const MAX_STATUS_MESSAGE = 4000;
/** Most per-resource entries (containers, workloads) in one status report; the agent keeps the first ones. */
export const MAX_RESOURCES_PER_REPORT = 100;
/** Longest `kind` or `name` of a resource entry. */
export const MAX_RESOURCE_FIELD = 255;
/** Longest runtime-preview diff the hub stores (the agent cuts longer ones, saying so). */
export const MAX_PREVIEW_DIFF = 512 * 1024;
/** Most services in one runtime-preview answer. */
export const MAX_PREVIEW_SERVICES = 200;
