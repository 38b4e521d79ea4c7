// What the leader exchanges with the server for each dataset, over the sync loop's transport:
// pull what changed since the last sync count, push the outbox, apply remote records (a
// conflict goes to onConflict, by default the newest wins), and act on the socket's events.
// The work on one dataset runs one piece at a time.
import { chunks, decision, eventAction, newestWins, patchesFor } from "./logic.js";
import { SyncError } from "./transport.js";

const PUSH_BATCH = 100;
// A lost connection is no error for the app: the loop reconnects and syncs again.
const CONNECTION_LOST = ["SocketClosed", "Timeout", "NetworkError"];
// The server will never take these changes as they are.
const REFUSED = ["LimitExceededException", "InvalidParameterException"];

export class Exchange {
  #client;
  #parts;
  #chains = new Map();
  #active = 0;
  #pushQueued = new Set();

  constructor(client, parts) {
    this.#client = client;
    this.#parts = parts;
  }

  get #transport() {
    return this.#parts.loop.transport;
  }

  async syncAll() {
    const client = this.#client;
    this.#parts.setStatus({ state: "syncing" });
    const names = new Set([...client.datasets, ...(await client.store.datasetNames())]);
    await Promise.all([...names].map((name) => this.sync(name)));
    if (this.#transport) this.#parts.setStatus({ state: "synced" });
  }

  /** Pull then push one dataset. */
  sync(name) {
    return this.#serially(name, async () => {
      if (!this.#transport) return;
      this.#parts.setStatus({ state: "syncing" });
      try {
        await this.#pull(name);
        await this.#push(name);
      } catch (error) {
        this.#reportUnlessConnectionLost(error);
      }
      await this.#parts.updatePending();
    });
  }

  /** Push a local change (a conflict or a gap in sync counts makes the push pull first). */
  pushSoon(name) {
    if (!this.#transport) return;
    if (this.#pushQueued.has(name)) return; // a push already waiting will take this change too
    this.#pushQueued.add(name);
    return this.#serially(name, async () => {
      this.#pushQueued.delete(name);
      if (!this.#transport) return;
      this.#parts.setStatus({ state: "syncing" });
      try {
        await this.#push(name);
      } catch (error) {
        this.#reportUnlessConnectionLost(error);
      }
      await this.#parts.updatePending();
    });
  }

  async onEvent(event) {
    const client = this.#client;
    switch (event.type) {
      case "changed":
        client.datasets.add(event.dataset);
        await this.#serially(event.dataset, async () => {
          const info = await client.store.datasetInfo(event.dataset);
          const action = eventAction(info.lastSyncCount, event);
          if (action === "apply") {
            await this.#apply(event.dataset, event.records);
            await client.store.saveDatasetInfo({ ...info, lastSyncCount: event.syncCount });
          } else if (action === "pull" && this.#transport) {
            await this.#pull(event.dataset);
          }
        });
        break;
      case "deleted":
        await this.#serially(event.dataset, () => this.#deleted(event.dataset));
        break;
      case "merged":
        client.options.onMerged?.(event);
        client.dispatchEvent(new CustomEvent("merged", { detail: event }));
        if (event.into === client.identityId) this.#parts.loop.kick(); // another identity's data arrived
        break;
      case "revoked":
        client.session.expiresAt = 0;
        break;
    }
  }

  #reportUnlessConnectionLost(error) {
    if (!(error instanceof SyncError) || !CONNECTION_LOST.includes(error.code)) {
      this.#client.dispatchEvent(new CustomEvent("error", { detail: error }));
    }
  }

  /** Run `work` after the dataset's earlier work; "synced" once nothing is left to do. */
  #serially(name, work) {
    const client = this.#client;
    this.#active += 1;
    const previous = this.#chains.get(name) || Promise.resolve();
    const next = previous.then(work).catch((error) => client.dispatchEvent(new CustomEvent("error", { detail: error })));
    const settled = next.finally(() => {
      this.#active -= 1;
      if (this.#chains.get(name) === settled) this.#chains.delete(name);
      if (this.#active === 0 && this.#transport && client.status.state === "syncing") this.#parts.setStatus({ state: "synced" });
    });
    this.#chains.set(name, settled);
    return settled;
  }

  async #pull(name) {
    const client = this.#client;
    let info = await client.store.datasetInfo(name);
    let next = null;
    const since = info.lastSyncCount;
    let answer;
    do {
      answer = await this.#transport.pull(name, since, next);
      if (answer.deletedAfterSince) {
        await this.#deleted(name);
        info = await client.store.datasetInfo(name);
        if (since !== 0) return this.#pull(name);
      }
      await this.#apply(name, answer.records);
      next = answer.next;
    } while (next);
    info = await client.store.datasetInfo(name);
    info.lastSyncCount = Math.max(info.lastSyncCount, answer.syncCount || 0);
    const merged = answer.mergedDatasets || [];
    if (merged.join() !== (info.merged || []).join()) {
      info.merged = merged;
      client.dispatchEvent(new CustomEvent("mergeddatasets", { detail: { dataset: name, merged } }));
    }
    await client.store.saveDatasetInfo(info);
  }

  async #apply(name, records) {
    const client = this.#client;
    if (!records.length) return;
    const decisions = new Map();
    for (const { remote, queued } of await client.store.lookup(name, records)) {
      if (!queued || queued.base >= remote.SyncCount || queued.value === (remote.Value ?? null)) continue;
      const conflict = {
        dataset: name,
        key: remote.Key,
        local: { value: queued.value, modified: queued.modified },
        remote: { value: remote.Value ?? null, modified: Math.round((remote.DeviceLastModifiedDate ?? remote.LastModifiedDate) * 1000), modifiedBy: remote.LastModifiedBy },
      };
      const answer = client.options.onConflict ? await client.options.onConflict(conflict) : newestWins(conflict);
      decisions.set(remote.Key, { ...decision(answer, conflict), rev: queued.rev });
    }
    const changed = await client.store.applyRemote(name, records, decisions, Date.now());
    if (decisions.size) {
      client.dispatchEvent(new CustomEvent("conflict", { detail: { dataset: name, keys: [...decisions.keys()] } }));
      this.#parts.tabs.post({ type: "conflicts" });
    }
    if (changed.length || decisions.size) {
      this.#parts.emitChange(name, changed, "remote");
      this.#parts.tabs.post({ type: "remote", dataset: name, keys: changed });
    }
  }

  async #push(name) {
    const client = this.#client;
    for (let round = 0; round < 10; round++) {
      const entries = await client.store.pending(name, PUSH_BATCH);
      if (!entries.length || !this.#transport) return;
      let answer;
      try {
        answer = await this.#transport.push(name, patchesFor(entries), client.deviceId);
      } catch (error) {
        if (error.code === "ResourceConflictException") {
          await this.#pull(name); // resolves the conflicts; the next round pushes the outcome
          continue;
        }
        if (REFUSED.includes(error.code)) {
          await this.#rejectOneByOne(name, entries, error);
          continue;
        }
        throw error;
      }
      await client.store.applyPushed(name, entries, answer.records);
      const info = await client.store.datasetInfo(name);
      if (answer.syncCount === info.lastSyncCount + 1) {
        info.lastSyncCount = answer.syncCount;
        await client.store.saveDatasetInfo(info);
      } else {
        await this.#pull(name); // someone else wrote in between: catch up
      }
      this.#parts.tabs.post({ type: "remote", dataset: name, keys: answer.records.map((r) => r.Key) });
      this.#parts.emitChange(name, answer.records.map((r) => r.Key), "pushed");
    }
  }

  /** A push the server refused for a limit: find the change it will never take, keep it aside. */
  async #rejectOneByOne(name, entries, error) {
    const client = this.#client;
    if (entries.length === 1) {
      await client.store.reject(name, entries[0], `${error.code}: ${error.message}`, Date.now());
      client.dispatchEvent(new CustomEvent("conflict", { detail: { dataset: name, keys: [entries[0].key] } }));
      this.#parts.tabs.post({ type: "conflicts" });
      return;
    }
    for (const part of chunks(entries, Math.ceil(entries.length / 2))) {
      try {
        const answer = await this.#transport.push(name, patchesFor(part), client.deviceId);
        await client.store.applyPushed(name, part, answer.records);
      } catch (inner) {
        if (REFUSED.includes(inner.code)) {
          await this.#rejectOneByOne(name, part, inner);
        } else throw inner;
      }
    }
  }

  async #deleted(name) {
    const client = this.#client;
    const keys = await client.store.datasetDeleted(name);
    client.options.onDatasetDeleted?.(name);
    this.#parts.emitChange(name, keys, "remote");
    this.#parts.tabs.post({ type: "remote", dataset: name, keys });
  }
}
