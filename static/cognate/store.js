// IndexedDB storage: one small database for the browser ("cognate": the session and the
// device id) and one per identity ("cognate:<identity id>") with its records, datasets, the
// outbox of changes not yet pushed, and the conflicts store. Reads are local.
import { openDB, deleteDB } from "../vendor/idb.js";

const META = "cognate";

export async function openMeta() {
  const db = await openDB(META, 1, {
    upgrade(db) {
      db.createObjectStore("state");
    },
  });
  return {
    get: (key) => db.get("state", key),
    put: (key, value) => db.put("state", value, key),
    delete: (key) => db.delete("state", key),
    close: () => db.close(),
  };
}

export const identityDatabase = (identityId) => `cognate:${identityId}`;

export async function openIdentity(identityId) {
  const db = await openDB(identityDatabase(identityId), 1, {
    upgrade(db) {
      db.createObjectStore("records", { keyPath: ["dataset", "key"] }).createIndex("dataset", "dataset");
      db.createObjectStore("datasets", { keyPath: "name" });
      db.createObjectStore("outbox", { keyPath: ["dataset", "key"] }).createIndex("dataset", "dataset");
      db.createObjectStore("conflicts", { keyPath: "id", autoIncrement: true }).createIndex("dataset", "dataset");
    },
    blocking() {
      db.close(); // another tab deletes this database (sign-out): let it
    },
  });
  return new IdentityStore(identityId, db);
}

export async function destroyIdentity(identityId) {
  await deleteDB(identityDatabase(identityId));
}

const range = (dataset) => IDBKeyRange.only(dataset);

/**
 * A record as stored: {dataset, key, value (null: removed), syncCount (the server's count of
 * the value it last saw), modified (ms, device time), modifiedBy, pending}. An outbox entry:
 * {dataset, key, op ("replace" | "remove"), value, modified, base (the sync count the change
 * was made on), rev (bumped by every local edit)}.
 */
export class IdentityStore {
  constructor(identityId, db) {
    this.identityId = identityId;
    this.db = db;
  }

  close() {
    this.db.close();
  }

  async get(dataset, key) {
    const record = await this.db.get("records", [dataset, key]);
    return record && record.value !== null ? record : undefined;
  }

  async all(dataset) {
    const records = await this.db.getAllFromIndex("records", "dataset", range(dataset));
    return records.filter((r) => r.value !== null);
  }

  async datasetInfo(name) {
    return (await this.db.get("datasets", name)) || { name, lastSyncCount: 0, merged: [] };
  }

  async datasetNames() {
    return (await this.db.getAllKeys("datasets")).map(String);
  }

  async saveDatasetInfo(info) {
    await this.db.put("datasets", info);
  }

  /** A change made on this device: the record at once, and the outbox. */
  async write(dataset, key, value, modified) {
    const tx = this.db.transaction(["records", "outbox", "datasets"], "readwrite");
    const [record, queued, info] = await Promise.all([
      tx.objectStore("records").get([dataset, key]),
      tx.objectStore("outbox").get([dataset, key]),
      tx.objectStore("datasets").get(dataset),
    ]);
    const syncCount = record ? record.syncCount : 0;
    const base = queued ? queued.base : syncCount;
    const op = value === null ? "remove" : "replace";
    await Promise.all([
      tx.objectStore("outbox").put({ dataset, key, op, value, modified, base, rev: (queued?.rev || 0) + 1 }),
      tx.objectStore("records").put({ dataset, key, value, syncCount, modified, modifiedBy: "this device", pending: true }),
      info ? null : tx.objectStore("datasets").put({ name: dataset, lastSyncCount: 0, merged: [] }),
    ]);
    await tx.done;
  }

  async pending(dataset, limit) {
    return this.db.getAllFromIndex("outbox", "dataset", range(dataset), limit);
  }

  async pendingCount() {
    return this.db.count("outbox");
  }

  async allPending() {
    return this.db.getAll("outbox");
  }

  /** The server applied `sent` (outbox entries) as `records`. */
  async applyPushed(dataset, sent, records) {
    const tx = this.db.transaction(["records", "outbox"], "readwrite");
    const bySent = new Map(sent.map((entry) => [entry.key, entry]));
    for (const remote of records) {
      const queued = await tx.objectStore("outbox").get([dataset, remote.Key]);
      const entry = bySent.get(remote.Key);
      if (queued && entry && queued.rev === entry.rev) {
        await tx.objectStore("outbox").delete([dataset, remote.Key]);
        await tx.objectStore("records").put(fromServer(dataset, remote));
      } else if (queued) {
        // Edited again while the push was on its way: that edit now builds on this count.
        await tx.objectStore("outbox").put({ ...queued, base: remote.SyncCount });
        const local = await tx.objectStore("records").get([dataset, remote.Key]);
        await tx.objectStore("records").put({ ...local, syncCount: remote.SyncCount });
      }
    }
    await tx.done;
  }

  /** What is stored for these keys: [{remote, record, queued}], for deciding conflicts. */
  async lookup(dataset, remotes) {
    const tx = this.db.transaction(["records", "outbox"]);
    const out = [];
    for (const remote of remotes) {
      const [record, queued] = await Promise.all([
        tx.objectStore("records").get([dataset, remote.Key]),
        tx.objectStore("outbox").get([dataset, remote.Key]),
      ]);
      out.push({ remote, record, queued });
    }
    await tx.done;
    return out;
  }

  /**
   * Apply records from the server. `decisions` maps a key with a local change to
   * {keep: "local" | "remote" | "custom", value, rev} (decided on `lookup`'s answer); the
   * value that loses goes to the conflicts store. Returns the keys whose value changed.
   */
  async applyRemote(dataset, remotes, decisions, now) {
    const tx = this.db.transaction(["records", "outbox", "conflicts"], "readwrite");
    const records = tx.objectStore("records");
    const outbox = tx.objectStore("outbox");
    const changed = [];
    for (const remote of remotes) {
      const [record, queued] = await Promise.all([records.get([dataset, remote.Key]), outbox.get([dataset, remote.Key])]);
      if (!queued) {
        if (!record || record.syncCount < remote.SyncCount) {
          await records.put(fromServer(dataset, remote));
          if ((record?.value ?? null) !== (remote.Value ?? null)) changed.push(remote.Key);
        }
        continue;
      }
      if (queued.base >= remote.SyncCount) continue; // already built on this value
      const remoteValue = remote.Value ?? null;
      if (queued.value === remoteValue) {
        // The same value arrived from elsewhere: nothing to push, nothing lost.
        await outbox.delete([dataset, remote.Key]);
        await records.put(fromServer(dataset, remote));
        continue;
      }
      const made = decisions.get(remote.Key);
      const local = { value: queued.value, modified: queued.modified, by: "this device" };
      const theirs = { value: remoteValue, modified: serverTime(remote), by: remote.LastModifiedBy || "another device" };
      let decided = made;
      if (!made || made.rev !== queued.rev) {
        decided = { keep: "local" }; // edited again since the decision: the newest edit stands
      }
      if (decided.keep === "remote") {
        await outbox.delete([dataset, remote.Key]);
        await records.put(fromServer(dataset, remote));
        await tx.objectStore("conflicts").add(conflict(dataset, remote.Key, theirs, [local], now));
        changed.push(remote.Key);
      } else {
        const value = decided.keep === "custom" ? decided.value : queued.value;
        const lost = decided.keep === "custom" ? [local, theirs] : [theirs];
        await outbox.put({ ...queued, value, op: value === null ? "remove" : "replace", base: remote.SyncCount, modified: decided.keep === "custom" ? now : queued.modified });
        await records.put({ ...record, dataset, key: remote.Key, value, syncCount: remote.SyncCount, pending: true });
        await tx.objectStore("conflicts").add(
          conflict(dataset, remote.Key, { value, modified: now, by: "this device" }, lost, now),
        );
        if (value !== (record?.value ?? null)) changed.push(remote.Key);
      }
    }
    await tx.done;
    return changed;
  }

  /** The dataset was deleted on the server: drop what was synced, keep what is pending. */
  async datasetDeleted(dataset) {
    const tx = this.db.transaction(["records", "outbox", "datasets"], "readwrite");
    const records = await tx.objectStore("records").index("dataset").getAll(range(dataset));
    const queued = await tx.objectStore("outbox").index("dataset").getAll(range(dataset));
    const pendingKeys = new Set(queued.map((q) => q.key));
    for (const record of records) {
      if (!pendingKeys.has(record.key)) await tx.objectStore("records").delete([dataset, record.key]);
      else await tx.objectStore("records").put({ ...record, syncCount: 0 });
    }
    for (const entry of queued) await tx.objectStore("outbox").put({ ...entry, base: 0 });
    await tx.objectStore("datasets").put({ name: dataset, lastSyncCount: 0, merged: [] });
    await tx.done;
    return records.map((r) => r.key);
  }

  /** A change the server will never take (a limit): kept in the conflicts store instead. */
  async reject(dataset, entry, reason, now) {
    const tx = this.db.transaction(["records", "outbox", "conflicts"], "readwrite");
    await tx.objectStore("outbox").delete([dataset, entry.key]);
    const record = await tx.objectStore("records").get([dataset, entry.key]);
    if (record && record.syncCount === 0) await tx.objectStore("records").delete([dataset, entry.key]);
    else if (record) await tx.objectStore("records").put({ ...record, pending: false });
    await tx.objectStore("conflicts").add({
      ...conflict(dataset, entry.key, null, [{ value: entry.value, modified: entry.modified, by: "this device" }], now),
      reason,
    });
    await tx.done;
  }

  async conflicts(dataset) {
    const all = dataset
      ? await this.db.getAllFromIndex("conflicts", "dataset", range(dataset))
      : await this.db.getAll("conflicts");
    return all.sort((a, b) => b.at - a.at);
  }

  async dismissConflict(id) {
    await this.db.delete("conflicts", id);
  }
}

function serverTime(remote) {
  return Math.round((remote.DeviceLastModifiedDate ?? remote.LastModifiedDate ?? 0) * 1000);
}

function fromServer(dataset, remote) {
  return {
    dataset,
    key: remote.Key,
    value: remote.Value ?? null,
    syncCount: remote.SyncCount,
    modified: serverTime(remote),
    modifiedBy: remote.LastModifiedBy || "",
    pending: false,
  };
}

function conflict(dataset, key, kept, lost, now) {
  return { dataset, key, kept, lost, at: now };
}
