// The client's IndexedDB store, unit by unit, in the browser (run by
// tests/browser/test_client_units.py on a page of the server). The file is one async function:
// it returns [[name, passed, detail], ...].
async () => {
  const { openIdentity, destroyIdentity } = await import("/static/cognate/store.js");
  const results = [];
  const check = (name, passed, detail = "") => results.push([name, Boolean(passed), JSON.stringify(detail)]);
  const remote = (key, value, syncCount, seconds = 1000) => ({
    Key: key,
    ...(value === null ? {} : { Value: value }),
    SyncCount: syncCount,
    LastModifiedDate: seconds,
    DeviceLastModifiedDate: seconds,
    LastModifiedBy: "other-device",
  });
  const id = `unit-${crypto.randomUUID()}`;
  const store = await openIdentity(id);
  try {
    // A local write is readable at once and queued.
    await store.write("d", "k", "v1", 5000);
    check("write is local", (await store.get("d", "k")).value === "v1");
    check("write is queued", (await store.pending("d")).length === 1);
    const [entry] = await store.pending("d");
    check("entry builds on count 0", entry.base === 0 && entry.op === "replace" && entry.rev === 1, entry);

    // Editing again before the push coalesces, keeping the base.
    await store.write("d", "k", "v2", 6000);
    const [again] = await store.pending("d");
    check("edits coalesce", again.value === "v2" && again.rev === 2 && again.base === 0, again);

    // The push answered for rev 1 while rev 2 was typed: rev 2 stays queued on the new count.
    await store.applyPushed("d", [entry], [remote("k", "v1", 1)]);
    const [rebased] = await store.pending("d");
    check("re-edit during a push stays queued", rebased && rebased.value === "v2" && rebased.base === 1, rebased);
    check("record keeps the local value", (await store.get("d", "k")).value === "v2");

    // The push of rev 2 lands: the outbox empties and the record is the server's.
    await store.applyPushed("d", [rebased], [remote("k", "v2", 2)]);
    check("outbox empty after the push", (await store.pendingCount()) === 0);
    check("record synced", (await store.get("d", "k")).syncCount === 2);

    // A remote change with no local change is applied; an older one is ignored.
    let changed = await store.applyRemote("d", [remote("k", "v3", 3)], new Map(), 7000);
    check("remote change applied", changed.join() === "k" && (await store.get("d", "k")).value === "v3", changed);
    changed = await store.applyRemote("d", [remote("k", "old", 2)], new Map(), 7000);
    check("older remote ignored", changed.length === 0 && (await store.get("d", "k")).value === "v3");

    // Conflict, remote kept: the local value goes to the conflicts store.
    await store.write("d", "k", "mine", 8000);
    let [queued] = await store.pending("d");
    changed = await store.applyRemote("d", [remote("k", "theirs", 4)], new Map([["k", { keep: "remote", rev: queued.rev }]]), 9000);
    let conflicts = await store.conflicts("d");
    check("remote kept", (await store.get("d", "k")).value === "theirs" && (await store.pendingCount()) === 0);
    check("local value kept aside", conflicts.length === 1 && conflicts[0].lost[0].value === "mine" && conflicts[0].kept.value === "theirs", conflicts);

    // Conflict, local kept: queued on the remote's count, the remote value aside.
    await store.write("d", "k", "mine again", 10000);
    [queued] = await store.pending("d");
    await store.applyRemote("d", [remote("k", "theirs again", 5)], new Map([["k", { keep: "local", rev: queued.rev }]]), 11000);
    [queued] = await store.pending("d");
    conflicts = await store.conflicts("d");
    check("local kept and rebased", queued.value === "mine again" && queued.base === 5, queued);
    check("remote value kept aside", conflicts[0].lost[0].value === "theirs again", conflicts[0]);

    // Conflict, custom value: both originals kept aside.
    await store.applyRemote("d", [remote("k", "third", 6)], new Map([["k", { keep: "custom", value: "merged", rev: queued.rev }]]), 12000);
    [queued] = await store.pending("d");
    conflicts = await store.conflicts("d");
    check("custom value queued", queued.value === "merged" && queued.base === 6, queued);
    check("both originals kept", conflicts[0].lost.map((l) => l.value).sort().join() === "mine again,third", conflicts[0]);

    // A decision made on an older edit does not override a newer local edit.
    await store.write("d", "k", "typed meanwhile", 13000);
    await store.applyRemote("d", [remote("k", "fourth", 7)], new Map([["k", { keep: "remote", rev: queued.rev }]]), 14000);
    [queued] = await store.pending("d");
    check("newer local edit survives a stale decision", queued.value === "typed meanwhile" && queued.base === 7, queued);

    // The same value arriving from elsewhere settles the local change without a conflict.
    const before = (await store.conflicts("d")).length;
    await store.applyRemote("d", [remote("k", "typed meanwhile", 8)], new Map(), 15000);
    check("same value settles", (await store.pendingCount()) === 0 && (await store.conflicts("d")).length === before);

    // A removal is a null value; reads skip it.
    await store.write("d", "gone", "x", 16000);
    await store.write("d", "gone", null, 17000);
    const [removal] = (await store.pending("d")).filter((e) => e.key === "gone");
    check("removal queued", removal.op === "remove" && (await store.get("d", "gone")) === undefined, removal);
    check("all() skips removed", (await store.all("d")).every((r) => r.key !== "gone"));

    // The dataset deleted on the server: synced records go, pending ones stay on count 0.
    await store.saveDatasetInfo({ name: "d", lastSyncCount: 8, merged: [] });
    await store.datasetDeleted("d");
    check("synced records dropped", (await store.get("d", "k")) === undefined);
    check("pending kept on count 0", (await store.pending("d")).every((e) => e.base === 0) && (await store.pending("d")).length === 1);
    check("sync count reset", (await store.datasetInfo("d")).lastSyncCount === 0);

    // A change the server will never take is set aside with the reason.
    await store.write("e", "huge", "y".repeat(10), 18000);
    const [huge] = await store.pending("e");
    await store.reject("e", huge, "LimitExceededException: too big", 19000);
    const rejected = (await store.conflicts("e"))[0];
    check("rejected change kept", rejected.reason.startsWith("LimitExceeded") && rejected.lost[0].value === "yyyyyyyyyy", rejected);
    check("rejected change no longer queued", (await store.pending("e")).length === 0);
  } catch (error) {
    check("no exception", false, String(error && error.stack));
  } finally {
    store.close();
    await destroyIdentity(id);
  }
  return results;
}
