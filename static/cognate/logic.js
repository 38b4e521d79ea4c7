// The client's decisions, free of the browser: reconnect delays, conflict resolution, patches,
// and reading sync counts. Tested under node (tests/js/logic.test.mjs).

/** Delay before reconnect attempt `attempt` (0, 1, ...): exponential, capped, full jitter. */
export function backoffDelay(attempt, { base = 500, cap = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}

/** Milliseconds since the epoch of a record's device time, else its server time. */
export function recordTime(record) {
  const seconds = record.DeviceLastModifiedDate ?? record.LastModifiedDate ?? 0;
  return Math.round(seconds * 1000);
}

/**
 * The default conflict rule: the value written last on its device wins (ties go to the server,
 * which every other device already sees). The other value is not lost: the client keeps it in
 * its conflicts store. Returns "local" or "remote".
 */
export function newestWins(conflict) {
  return conflict.local.modified > conflict.remote.modified ? "local" : "remote";
}

/**
 * What an app's onConflict answered, made into a decision: "local", "remote", or
 * {value} (a new value, null to remove). Anything else falls back to the default rule.
 */
export function decision(answer, conflict) {
  if (answer === "local" || answer === "remote") return { keep: answer };
  if (answer && typeof answer === "object" && "value" in answer) {
    if (answer.value === null || typeof answer.value === "string") {
      return { keep: "custom", value: answer.value };
    }
  }
  return { keep: newestWins(conflict) };
}

/** Cognito RecordPatches for outbox entries. */
export function patchesFor(entries) {
  return entries.map((entry) => {
    const patch = {
      Op: entry.op,
      Key: entry.key,
      SyncCount: entry.base,
      DeviceLastModifiedDate: entry.modified / 1000,
    };
    if (entry.op === "replace") patch.Value = entry.value;
    return patch;
  });
}

/** How an event's sync count relates to what the device has: apply it, pull, or ignore. */
export function eventAction(lastSyncCount, event) {
  if (event.syncCount <= lastSyncCount) return "ignore";
  if (event.syncCount === lastSyncCount + 1 && Array.isArray(event.records)) return "apply";
  return "pull";
}

/** The payload of a JWT, unverified (the client only reads its expiry). */
export function tokenClaims(token) {
  const part = token.split(".")[1] || "";
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** Split `items` into chunks of at most `size`. */
export function chunks(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
