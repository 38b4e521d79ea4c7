// The browser client's pure logic, under node's test runner: node --test tests/js/logic.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffDelay, chunks, decision, eventAction, newestWins, patchesFor, recordTime, tokenClaims } from "../../static/cognate/logic.js";

test("backoff grows exponentially to its cap, with full jitter", () => {
  const top = (attempt) => backoffDelay(attempt, { base: 500, cap: 30000, random: () => 1 });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(top), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(backoffDelay(3, { random: () => 0 }), 0);
  assert.equal(backoffDelay(3, { base: 500, random: () => 0.5 }), 2000);
  assert.equal(top(5000), 30000); // no overflow for long outages
});

test("the newest device time wins; ties go to the server's value", () => {
  const conflict = (local, remote) => ({ local: { modified: local }, remote: { modified: remote } });
  assert.equal(newestWins(conflict(2000, 1000)), "local");
  assert.equal(newestWins(conflict(1000, 2000)), "remote");
  assert.equal(newestWins(conflict(1000, 1000)), "remote");
});

test("an app's answer becomes a decision, and nonsense falls back to the default", () => {
  const conflict = { local: { modified: 5 }, remote: { modified: 1 } };
  assert.deepEqual(decision("remote", conflict), { keep: "remote" });
  assert.deepEqual(decision("local", conflict), { keep: "local" });
  assert.deepEqual(decision({ value: "both" }, conflict), { keep: "custom", value: "both" });
  assert.deepEqual(decision({ value: null }, conflict), { keep: "custom", value: null });
  assert.deepEqual(decision({ value: 42 }, conflict), { keep: "local" });
  assert.deepEqual(decision(undefined, conflict), { keep: "local" });
});

test("outbox entries become Cognito RecordPatches", () => {
  const patches = patchesFor([
    { key: "a", op: "replace", value: "1", base: 3, modified: 1700000000123 },
    { key: "b", op: "remove", value: null, base: 0, modified: 1700000000000 },
  ]);
  assert.deepEqual(patches, [
    { Op: "replace", Key: "a", Value: "1", SyncCount: 3, DeviceLastModifiedDate: 1700000000.123 },
    { Op: "remove", Key: "b", SyncCount: 0, DeviceLastModifiedDate: 1700000000 },
  ]);
});

test("events are applied when they follow on, pulled after a gap, ignored when old", () => {
  assert.equal(eventAction(4, { syncCount: 5, records: [] }), "apply");
  assert.equal(eventAction(4, { syncCount: 5, records: null }), "pull");
  assert.equal(eventAction(4, { syncCount: 7, records: [] }), "pull");
  assert.equal(eventAction(4, { syncCount: 4, records: [] }), "ignore");
  assert.equal(eventAction(9, { syncCount: 5, records: [] }), "ignore");
});

test("record times prefer the device's", () => {
  assert.equal(recordTime({ DeviceLastModifiedDate: 10.5, LastModifiedDate: 20 }), 10500);
  assert.equal(recordTime({ LastModifiedDate: 20 }), 20000);
});

test("token claims are read from a JWT, unicode included", () => {
  const payload = Buffer.from(JSON.stringify({ aud: "pool", exp: 99, name: "Zoë" })).toString("base64url");
  assert.deepEqual(tokenClaims(`x.${payload}.y`), { aud: "pool", exp: 99, name: "Zoë" });
});

test("chunks", () => {
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(chunks([], 3), []);
});
