// Cognate's browser client: a guest identity on first visit, datasets read and written locally
// (IndexedDB) online or offline, changes pushed from an outbox and pulled live over one
// websocket per browser, and sign-in that brings the guest's data along.
// Documentation: docs/browser-client.md. `Cognate` puts together its parts: session.js (who
// this browser is), tabs.js (which tab syncs), sync.js (the sync loop) and exchange.js
// (pull, push and events per dataset).
import { Exchange } from "./exchange.js";
import { Session } from "./session.js";
import { openMeta } from "./store.js";
import { SyncLoop } from "./sync.js";
import { Tabs } from "./tabs.js";

export class Cognate extends EventTarget {
  #session;
  #tabs;
  #loop;
  #exchange;

  /**
   * Start the client: the browser's identity (from the server, or the one kept locally when
   * offline), its local data, and syncing in the background. Options:
   *   endpoint        the server's origin, "" for this page's (default)
   *   datasets        names of datasets to keep in sync from the start
   *   onConflict      (conflict) => "local" | "remote" | {value} (may be async);
   *                   default: the newest device time wins, the other value is kept
   *   onDatasetDeleted(name), onMerged({from, into, datasets})  notifications
   *   getLogins       async () => Logins map, for identities signed in with provider tokens
   *   transport       "auto" (websocket, HTTP when it cannot open), "websocket" or "http"
   *   pollInterval    ms between HTTP polls when on the HTTP fallback (5000)
   */
  static async start(options = {}) {
    const client = new Cognate(options);
    await client.#start();
    return client;
  }

  constructor(options) {
    super();
    this.options = {
      endpoint: "",
      bootstrapUrl: "/identity/session",
      logoutUrl: "/accounts/logout/",
      datasets: [],
      transport: "auto",
      pollInterval: 5000,
      refreshMargin: 60,
      ...options,
    };
    this.endpoint = this.options.endpoint.replace(/\/$/, "");
    this.datasets = new Set(this.options.datasets);
    this.status = { state: "starting", transport: null, leader: false, pending: 0, online: navigator.onLine };
    this.closed = false;
    // The parts reach each other, and these helpers of the client, through `parts`; the app
    // reaches none of them.
    const parts = {
      setStatus: (change) => this.#setStatus(change),
      updatePending: () => this.#updatePending(),
      emitChange: (dataset, keys, source) => this.#emitChange(dataset, keys, source),
    };
    this.#session = parts.session = new Session(this, parts);
    this.#tabs = parts.tabs = new Tabs(this, parts);
    this.#loop = parts.loop = new SyncLoop(this, parts);
    this.#exchange = parts.exchange = new Exchange(this, parts);
  }

  get identityId() {
    return this.session?.identityId;
  }

  async #start() {
    this.meta = await openMeta();
    this.deviceId = await this.meta.get("device");
    if (!this.deviceId) {
      this.deviceId = crypto.randomUUID();
      await this.meta.put("device", this.deviceId);
    }
    await this.#session.resume();
    this.#tabs.open(`cognate:${this.endpoint || location.origin}`);
    window.addEventListener("online", () => this.#setStatus({ online: true }));
    window.addEventListener("offline", () => {
      // An open socket may linger without a network; drop it and wait for "online".
      this.#setStatus({ online: false });
      if (this.status.leader) this.#loop.drop();
    });
    await this.#updatePending();
    this.#tabs.elect();
  }

  // --- Identity -------------------------------------------------------------------------------
  /** Sign in with provider tokens (Logins): the guest is linked to the account or merged into it. */
  signIn(options) {
    return this.#session.signIn(options);
  }

  /** After signing in on the site's own pages (a new bootstrap gives the account's identity). */
  refreshSession() {
    return this.#session.refreshSession();
  }

  /**
   * Sign out: push what is pending (fails offline unless {force: true}), end the site session,
   * forget the identity's local data and start again as a new guest.
   */
  signOut(options) {
    return this.#session.signOut(options);
  }

  // --- Datasets ---------------------------------------------------------------------------------
  dataset(name) {
    if (!this.datasets.has(name)) {
      this.datasets.add(name);
      if (this.status.leader) this.#exchange.sync(name);
    }
    return new Dataset(this, name);
  }

  async _write(dataset, key, value) {
    if (typeof key !== "string" || !key) throw new TypeError("a record key is a non-empty string");
    if (value !== null && typeof value !== "string") throw new TypeError("a record value is a string (or null to remove)");
    await this.store.write(dataset, key, value, Date.now());
    this.#emitChange(dataset, [key], "local");
    this.#tabs.post({ type: "local", dataset, keys: [key], identityId: this.identityId });
    await this.#updatePending();
    if (this.status.leader) this.#exchange.pushSoon(dataset);
  }

  conflicts(dataset) {
    return this.store.conflicts(dataset);
  }

  /** Datasets a merge of identities made to keep values that met `dataset`'s (see docs). */
  async mergedDatasets(dataset) {
    return (await this.store.datasetInfo(dataset)).merged || [];
  }

  async dismissConflict(id) {
    await this.store.dismissConflict(id);
    this.#emitChange(null, [], "conflicts");
    this.#tabs.post({ type: "conflicts" });
  }

  /** Resolves once nothing is pending (pushed), or rejects after `timeout` ms. */
  flush(options) {
    return this.#loop.flush(options);
  }

  /** Sync every dataset now (the leader tab does it). */
  sync() {
    if (this.status.leader) this.#loop.kick();
    else this.#tabs.post({ type: "sync" });
  }

  close() {
    this.closed = true;
    this.#loop.stop();
    this.#tabs.close();
    this.store?.close();
    this.meta?.close();
  }

  #emitChange(dataset, keys, source) {
    this.dispatchEvent(new CustomEvent("change", { detail: { dataset, keys, source } }));
  }

  async #updatePending() {
    if (!this.store) return;
    this.#setStatus({ pending: await this.store.pendingCount() });
  }

  #setStatus(change) {
    Object.assign(this.status, change);
    this.dispatchEvent(new CustomEvent("status", { detail: { ...this.status } }));
    this.#tabs.shareStatus(change);
  }
}

/** One dataset of the current identity. Reads are local; writes are local and then pushed. */
export class Dataset {
  constructor(client, name) {
    this.client = client;
    this.name = name;
  }

  async get(key) {
    return (await this.client.store.get(this.name, key))?.value;
  }

  /** [{key, value, modified, pending, syncCount}] sorted by key. */
  async all() {
    const records = await this.client.store.all(this.name);
    return records.map(({ key, value, modified, pending, syncCount }) => ({ key, value, modified, pending, syncCount }));
  }

  put(key, value) {
    return this.client._write(this.name, key, value);
  }

  remove(key) {
    return this.client._write(this.name, key, null);
  }

  conflicts() {
    return this.client.conflicts(this.name);
  }

  /** Call `listener({dataset, keys, source})` on every change of this dataset; returns an unsubscribe. */
  subscribe(listener) {
    const handler = (event) => {
      if (event.detail.dataset === this.name || event.detail.dataset === null) listener(event.detail);
    };
    this.client.addEventListener("change", handler);
    return () => this.client.removeEventListener("change", handler);
  }
}
