/** Sizes both sides agree on: the hub refuses more, the agent never sends more. */

/** Largest log batch the hub accepts in one agentPushLogs call. */
export const MAX_LOG_BATCH = 500;
/** Most status reports in one agentReportStatus call. */
export const MAX_STATUS_REPORTS = 200;
/** Longest status message stored (longer ones are cut); agents may send docker's or helm's whole stderr. */
export const MAX_STATUS_MESSAGE = 4000;
