// Cognate's browser client: a guest identity on first visit, datasets read and written locally
// (IndexedDB) online or offline, changes pushed from an outbox and pulled live over one
// websocket per browser, and sign-in that brings the guest's data along.
// Documentation: docs/browser-client.md.
import { backoffDelay, chunks, decision, eventAction, newestWins, patchesFor, tokenClaims } from "./logic.js";
import { destroyIdentity, openIdentity, openMeta } from "./store.js";
import { HttpTransport, SocketTransport, SyncError } from "./transport.js";

const LEADER_LOCK = "cognate-sync-leader";
const PUSH_BATCH = 100;
const SOCKET_FAILURES_BEFORE_HTTP = 3;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Cognate extends EventTarget {
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
    this.chains = new Map();
    this.status = { state: "starting", transport: null, leader: false, pending: 0, online: navigator.onLine };
    this.closed = false;
  }

  get identityId() {
    return this.session?.identityId;
  }

  // --- Identity -------------------------------------------------------------------------------
  async #start() {
    this.meta = await openMeta();
    this.deviceId = await this.meta.get("device");
    if (!this.deviceId) {
      this.deviceId = crypto.randomUUID();
      await this.meta.put("device", this.deviceId);
    }
    const saved = await this.meta.get("session");
    let fresh = null;
    try {
      fresh = await this.#fetchSession(saved);
    } catch (error) {
      // Offline, or a provider sign-in to renew: carry on with the identity kept here.
      if (!saved || !(error instanceof SyncError) || !["NetworkError", "SignInRequired"].includes(error.code)) throw error;
    }
    await this.#useSession(fresh || saved, saved);
    this.channel = new BroadcastChannel(`cognate:${this.endpoint || location.origin}`);
    this.channel.onmessage = (event) => this.#onTabMessage(event.data);
    window.addEventListener("online", () => this.#setStatus({ online: true }));
    window.addEventListener("offline", () => {
      // An open socket may linger without a network; drop it and wait for "online".
      this.#setStatus({ online: false });
      if (this.status.leader) this.#dropConnection();
    });
    await this.#updatePending();
    this.#elect();
  }

  /** A fresh session from the server: the site's bootstrap, or GetOpenIdToken with logins. */
  async #fetchSession(current) {
    if (current?.mode === "logins") {
      if (!this.options.getLogins) {
        throw new SyncError("SignInRequired", "This identity signed in with a provider: pass getLogins to Cognate.start, or call signIn.");
      }
      return this.#loginsSession(current.identityId, await this.options.getLogins());
    }
    let response;
    try {
      response = await fetch(this.endpoint + this.options.bootstrapUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
        cache: "no-store",
      });
    } catch (error) {
      throw new SyncError("NetworkError", String(error));
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new SyncError(body.__type || "BootstrapFailed", body.message || response.statusText);
    return { ...body, mode: "site" };
  }

  async #loginsSession(identityId, logins) {
    const body = { Logins: logins };
    if (identityId) body.IdentityId = identityId;
    let response;
    try {
      response = await fetch(`${this.endpoint}/aws`, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-amz-json-1.1",
          "X-Amz-Target": "AWSCognitoIdentityService.GetOpenIdToken",
        },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw new SyncError("NetworkError", String(error));
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new SyncError((answer.__type || "SignInFailed").split("#").pop(), answer.message || response.statusText);
    const claims = tokenClaims(answer.Token);
    return {
      identityId: answer.IdentityId,
      identityPoolId: claims.aud,
      token: answer.Token,
      expiresAt: claims.exp,
      authenticated: true,
      username: null,
      mode: "logins",
    };
  }

  /** Make `session` current; local changes of a previous identity come along. */
  async #useSession(session, previous) {
    const before = this.session || previous;
    this.session = session;
    await this.meta.put("session", session);
    if (this.store?.identityId !== session.identityId) {
      this.store?.close();
      this.store = await openIdentity(session.identityId);
    }
    if (before && before.identityId !== session.identityId) await this.#adopt(before.identityId);
  }

  /** Bring an identity's unpushed changes into the current one, then forget it locally. */
  async #adopt(oldIdentityId) {
    const old = await openIdentity(oldIdentityId);
    const pending = await old.allPending();
    for (const name of await old.datasetNames()) this.datasets.add(name);
    old.close();
    for (const entry of pending) {
      await this.store.write(entry.dataset, entry.key, entry.value, entry.modified);
      this.datasets.add(entry.dataset);
    }
    await destroyIdentity(oldIdentityId);
  }

  /** Sign in with provider tokens (Logins): the guest is linked to the account or merged into it. */
  async signIn({ getLogins }) {
    this.options.getLogins = getLogins;
    await this.flush({ timeout: 5000 }).catch(() => {});
    // The sign-in may merge this identity away (its socket then closes): stop syncing first.
    this.#stopSync();
    let session;
    try {
      session = await this.#loginsSession(this.session.identityId, await getLogins());
    } catch (error) {
      if (this.status.leader && !this.closed) this.#run();
      throw error;
    }
    await this.#switch(session);
    return session;
  }

  /** After signing in on the site's own pages (a new bootstrap gives the account's identity). */
  async refreshSession() {
    const session = await this.#fetchSession(this.session);
    if (session.identityId !== this.session.identityId) await this.#switch(session);
    else await this.#renew(session);
    return session;
  }

  /**
   * Sign out: push what is pending (fails offline unless {force: true}), end the site session,
   * forget the identity's local data and start again as a new guest.
   */
  async signOut({ force = false } = {}) {
    try {
      await this.flush({ timeout: 10000 });
    } catch (error) {
      if (!force) throw error;
    }
    if (this.session.mode === "site" && this.session.authenticated) {
      await fetch(this.endpoint + this.options.logoutUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
        redirect: "manual",
      });
    }
    const old = this.session.identityId;
    this.options.getLogins = undefined;
    const guest = await this.#fetchSession(null);
    this.#stopSync();
    this.store.close();
    this.store = null;
    await destroyIdentity(old);
    this.datasets = new Set(this.options.datasets);
    this.session = null;
    await this.#useSession(guest, null);
    this.channel.postMessage({ type: "session" });
    this.#changedIdentity();
    return guest;
  }

  async #switch(session) {
    this.#stopSync();
    await this.#useSession(session, this.session);
    this.channel.postMessage({ type: "session" });
    this.#changedIdentity();
  }

  #changedIdentity() {
    this.#updatePending();
    this.dispatchEvent(new CustomEvent("identitychange", { detail: { ...this.session, token: undefined } }));
    this.dispatchEvent(new CustomEvent("change", { detail: { dataset: null, keys: [], source: "identity" } }));
    if (this.status.leader && !this.closed) this.#run();
  }

  // --- Datasets ---------------------------------------------------------------------------------
  dataset(name) {
    if (!this.datasets.has(name)) {
      this.datasets.add(name);
      if (this.status.leader) this.#sync(name);
    }
    return new Dataset(this, name);
  }

  async _write(dataset, key, value) {
    if (typeof key !== "string" || !key) throw new TypeError("a record key is a non-empty string");
    if (value !== null && typeof value !== "string") throw new TypeError("a record value is a string (or null to remove)");
    await this.store.write(dataset, key, value, Date.now());
    this.#emitChange(dataset, [key], "local");
    this.channel.postMessage({ type: "local", dataset, keys: [key], identityId: this.identityId });
    await this.#updatePending();
    if (this.status.leader) this.#pushSoon(dataset);
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
    this.channel.postMessage({ type: "conflicts" });
  }

  /** Resolves once nothing is pending (pushed), or rejects after `timeout` ms. */
  async flush({ timeout = 10000 } = {}) {
    const deadline = Date.now() + timeout;
    this.channel.postMessage({ type: "sync" });
    if (this.status.leader) this.#kick();
    while ((await this.store.pendingCount()) > 0) {
      if (Date.now() > deadline) {
        throw new SyncError("PendingChanges", "Some changes are not pushed yet (offline?): try again when online.");
      }
      await sleep(100);
    }
  }

  /** Sync every dataset now (the leader tab does it). */
  sync() {
    if (this.status.leader) this.#kick();
    else this.channel.postMessage({ type: "sync" });
  }

  close() {
    this.closed = true;
    this.#stopSync();
    this.releaseLeadership?.();
    this.channel?.close();
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
    if (this.status.leader && this.channel && !("pending" in change && Object.keys(change).length === 1)) {
      this.channel.postMessage({ type: "status", status: { ...this.status, leader: false } });
    }
  }

  // --- Tabs: one leader holds the socket; the others follow through BroadcastChannel -------
  #elect() {
    const lead = () =>
      new Promise((release) => {
        this.releaseLeadership = release;
        this.#setStatus({ leader: true });
        this.#run();
      });
    if (navigator.locks) navigator.locks.request(LEADER_LOCK, lead);
    else lead();
    if (!this.status.leader) this.channel.postMessage({ type: "hello" });
  }

  async #onTabMessage(message) {
    if (this.closed) return;
    switch (message.type) {
      case "local":
        if (message.identityId !== this.identityId) return;
        this.#emitChange(message.dataset, message.keys, "local");
        await this.#updatePending();
        if (this.status.leader) {
          this.datasets.add(message.dataset);
          this.#pushSoon(message.dataset);
        }
        break;
      case "remote":
        this.#emitChange(message.dataset, message.keys, "remote");
        await this.#updatePending();
        break;
      case "conflicts":
        this.#emitChange(null, [], "conflicts");
        break;
      case "status":
        if (!this.status.leader) {
          const { state, transport, online } = message.status;
          this.#setStatus({ state, transport, online });
        }
        break;
      case "hello":
        if (this.status.leader) this.channel.postMessage({ type: "status", status: { ...this.status, leader: false } });
        break;
      case "sync":
        if (this.status.leader) this.#kick();
        break;
      case "session": {
        const session = await this.meta.get("session");
        if (session && session.identityId !== this.identityId) {
          this.#stopSync();
          this.session = session;
          this.store?.close();
          this.store = await openIdentity(session.identityId);
          this.datasets = new Set(this.options.datasets);
          this.#changedIdentity();
        } else if (session) {
          this.session = session;
        }
        break;
      }
    }
  }

  // --- Syncing (leader) -------------------------------------------------------------------------
  async #run() {
    let attempt = 0;
    let socketFailures = 0;
    const generation = (this.generation = (this.generation || 0) + 1);
    while (!this.closed && generation === this.generation) {
      if (!navigator.onLine) {
        this.#setStatus({ state: "offline", transport: null });
        await this.#waitFor("online");
        continue;
      }
      try {
        await this.#freshToken();
        const useHttp = this.options.transport === "http" || (this.options.transport === "auto" && socketFailures >= SOCKET_FAILURES_BEFORE_HTTP);
        this.#setStatus({ state: "connecting" });
        if (useHttp) {
          await this.#poll(generation);
          socketFailures = 0; // try the socket again after a while on HTTP
        } else {
          await this.#connect(generation);
          attempt = 0;
          socketFailures = 0;
          await this.closedSocket;
        }
      } catch (error) {
        if (this.closed || generation !== this.generation) break; // another identity's loop runs now
        if (error?.code === "SignInRequired") {
          // Work goes on locally; syncing resumes when the app calls signIn.
          this.#setStatus({ state: "signin-required", transport: null });
          this.dispatchEvent(new CustomEvent("signinrequired", { detail: error }));
          await this.kicked();
          continue;
        }
        if (error?.closeCode === 4401 || error?.code === "NotAuthorizedException") this.session.expiresAt = 0;
        if (error?.closeCode === 4403) await this.#identityGone();
        else if (error instanceof SyncError && ["SocketClosed", "SocketUnavailable"].includes(error.code)) socketFailures += 1;
        else this.dispatchEvent(new CustomEvent("error", { detail: error }));
      }
      this.transport = null;
      if (this.closed || generation !== this.generation) break;
      this.#setStatus({ state: navigator.onLine ? "connecting" : "offline", transport: null });
      await Promise.race([sleep(backoffDelay(attempt++)), this.#waitFor("online"), this.kicked()]);
    }
  }

  kicked() {
    return new Promise((resolve) => (this.kickWaiter = resolve));
  }

  #kick() {
    if (this.kickWaiter) this.kickWaiter();
    if (this.transport) for (const name of this.datasets) this.#sync(name);
  }

  #waitFor(eventName) {
    return new Promise((resolve) => window.addEventListener(eventName, resolve, { once: true }));
  }

  async #connect(generation) {
    const url = `${this.endpoint.replace(/^http/, "ws") || location.origin.replace(/^http/, "ws")}/ws/sync`;
    let socketClosed;
    this.closedSocket = new Promise((resolve, reject) => (socketClosed = { resolve, reject }));
    this.socketDone = () => socketClosed.resolve();
    const socket = new SocketTransport(url, {
      onEvent: (event) => this.#onEvent(event),
      onClose: (code) => {
        if (this.transport === socket) this.transport = null;
        if (code === 4403 || code === 4401) socketClosed.reject(Object.assign(new SyncError("SocketClosed", `closed ${code}`), { closeCode: code }));
        else socketClosed.resolve();
      },
    });
    await socket.open(this.session.token);
    if (generation !== this.generation) return socket.close();
    this.transport = socket;
    this.#setStatus({ transport: "websocket" });
    this.#scheduleRenewal();
    await this.#syncAll();
  }

  async #poll(generation) {
    this.transport = new HttpTransport(this.endpoint, this.session);
    this.#setStatus({ transport: "http" });
    const until = Date.now() + 60000; // then try the websocket again
    while (!this.closed && generation === this.generation && Date.now() < until && navigator.onLine) {
      await this.#freshToken();
      this.transport.renew(this.session.token);
      await this.#syncAll();
      await Promise.race([sleep(this.options.pollInterval), this.kicked()]);
    }
  }

  #dropConnection() {
    this.transport?.close();
    this.transport = null;
    this.socketDone?.();
    this.kickWaiter?.();
  }

  #stopSync() {
    this.generation = (this.generation || 0) + 1;
    clearTimeout(this.renewTimer);
    this.transport?.close();
    this.transport = null;
    this.kickWaiter?.();
  }

  async #freshToken() {
    const now = Date.now() / 1000;
    if (this.session.expiresAt - this.options.refreshMargin > now) return;
    const session = await this.#fetchSession(this.session);
    if (session.identityId !== this.session.identityId) await this.#switch(session);
    else await this.#renew(session);
  }

  async #renew(session) {
    this.session = session;
    await this.meta.put("session", session);
    if (this.transport) await this.transport.renew(session.token);
    this.#scheduleRenewal();
  }

  #scheduleRenewal() {
    clearTimeout(this.renewTimer);
    const inMs = (this.session.expiresAt - this.options.refreshMargin) * 1000 - Date.now();
    this.renewTimer = setTimeout(() => this.#freshToken().catch(() => this.transport?.close()), Math.max(1000, inMs));
  }

  /** The identity was merged away, disabled or deleted: ask the server who this browser is now. */
  async #identityGone() {
    const session = await this.#fetchSession(this.session.mode === "logins" ? this.session : null);
    if (session.identityId !== this.session.identityId) await this.#switch(session);
  }

  async #syncAll() {
    this.#setStatus({ state: "syncing" });
    const names = new Set([...this.datasets, ...(await this.store.datasetNames())]);
    await Promise.all([...names].map((name) => this.#sync(name)));
    if (this.transport) this.#setStatus({ state: "synced" });
  }

  /** Pull then push one dataset; runs one at a time per dataset. */
  #sync(name) {
    return this.#serially(name, async () => {
      if (!this.transport) return;
      this.#setStatus({ state: "syncing" });
      try {
        await this.#pull(name);
        await this.#push(name);
      } catch (error) {
        if (!(error instanceof SyncError) || !["SocketClosed", "Timeout", "NetworkError"].includes(error.code)) {
          this.dispatchEvent(new CustomEvent("error", { detail: error }));
        }
      }
      await this.#updatePending();
    });
  }

  /** Push a local change (a conflict or a gap in sync counts makes the push pull first). */
  #pushSoon(name) {
    if (!this.transport) return;
    if (this.pushQueued?.has(name)) return; // a push already waiting will take this change too
    (this.pushQueued ||= new Set()).add(name);
    return this.#serially(name, async () => {
      this.pushQueued.delete(name);
      if (!this.transport) return;
      this.#setStatus({ state: "syncing" });
      try {
        await this.#push(name);
      } catch (error) {
        if (!(error instanceof SyncError) || !["SocketClosed", "Timeout", "NetworkError"].includes(error.code)) {
          this.dispatchEvent(new CustomEvent("error", { detail: error }));
        }
      }
      await this.#updatePending();
    });
  }

  /** Run `work` after the dataset's earlier work; "synced" once nothing is left to do. */
  #serially(name, work) {
    this.active = (this.active || 0) + 1;
    const previous = this.chains.get(name) || Promise.resolve();
    const next = previous.then(work).catch((error) => this.dispatchEvent(new CustomEvent("error", { detail: error })));
    const settled = next.finally(() => {
      this.active -= 1;
      if (this.chains.get(name) === settled) this.chains.delete(name);
      if (this.active === 0 && this.transport && this.status.state === "syncing") this.#setStatus({ state: "synced" });
    });
    this.chains.set(name, settled);
    return settled;
  }

  async #pull(name) {
    let info = await this.store.datasetInfo(name);
    let next = null;
    const since = info.lastSyncCount;
    let answer;
    do {
      answer = await this.transport.pull(name, since, next);
      if (answer.deletedAfterSince) {
        await this.#deleted(name);
        info = await this.store.datasetInfo(name);
        if (since !== 0) return this.#pull(name);
      }
      await this.#apply(name, answer.records);
      next = answer.next;
    } while (next);
    info = await this.store.datasetInfo(name);
    info.lastSyncCount = Math.max(info.lastSyncCount, answer.syncCount || 0);
    const merged = answer.mergedDatasets || [];
    if (merged.join() !== (info.merged || []).join()) {
      info.merged = merged;
      this.dispatchEvent(new CustomEvent("mergeddatasets", { detail: { dataset: name, merged } }));
    }
    await this.store.saveDatasetInfo(info);
  }

  async #apply(name, records) {
    if (!records.length) return;
    const decisions = new Map();
    for (const { remote, queued } of await this.store.lookup(name, records)) {
      if (!queued || queued.base >= remote.SyncCount || queued.value === (remote.Value ?? null)) continue;
      const conflict = {
        dataset: name,
        key: remote.Key,
        local: { value: queued.value, modified: queued.modified },
        remote: { value: remote.Value ?? null, modified: Math.round((remote.DeviceLastModifiedDate ?? remote.LastModifiedDate) * 1000), modifiedBy: remote.LastModifiedBy },
      };
      const answer = this.options.onConflict ? await this.options.onConflict(conflict) : newestWins(conflict);
      decisions.set(remote.Key, { ...decision(answer, conflict), rev: queued.rev });
    }
    const changed = await this.store.applyRemote(name, records, decisions, Date.now());
    if (decisions.size) {
      this.dispatchEvent(new CustomEvent("conflict", { detail: { dataset: name, keys: [...decisions.keys()] } }));
      this.channel.postMessage({ type: "conflicts" });
    }
    if (changed.length || decisions.size) {
      this.#emitChange(name, changed, "remote");
      this.channel.postMessage({ type: "remote", dataset: name, keys: changed });
    }
  }

  async #push(name) {
    for (let round = 0; round < 10; round++) {
      const entries = await this.store.pending(name, PUSH_BATCH);
      if (!entries.length || !this.transport) return;
      let answer;
      try {
        answer = await this.transport.push(name, patchesFor(entries), this.deviceId);
      } catch (error) {
        if (error.code === "ResourceConflictException") {
          await this.#pull(name); // resolves the conflicts; the next round pushes the outcome
          continue;
        }
        if (["LimitExceededException", "InvalidParameterException"].includes(error.code)) {
          await this.#rejectOneByOne(name, entries, error);
          continue;
        }
        throw error;
      }
      await this.store.applyPushed(name, entries, answer.records);
      const info = await this.store.datasetInfo(name);
      if (answer.syncCount === info.lastSyncCount + 1) {
        info.lastSyncCount = answer.syncCount;
        await this.store.saveDatasetInfo(info);
      } else {
        await this.#pull(name); // someone else wrote in between: catch up
      }
      this.channel.postMessage({ type: "remote", dataset: name, keys: answer.records.map((r) => r.Key) });
      this.#emitChange(name, answer.records.map((r) => r.Key), "pushed");
    }
  }

  /** A push the server refused for a limit: find the change it will never take, keep it aside. */
  async #rejectOneByOne(name, entries, error) {
    if (entries.length === 1) {
      await this.store.reject(name, entries[0], `${error.code}: ${error.message}`, Date.now());
      this.dispatchEvent(new CustomEvent("conflict", { detail: { dataset: name, keys: [entries[0].key] } }));
      this.channel.postMessage({ type: "conflicts" });
      return;
    }
    for (const part of chunks(entries, Math.ceil(entries.length / 2))) {
      try {
        const answer = await this.transport.push(name, patchesFor(part), this.deviceId);
        await this.store.applyPushed(name, part, answer.records);
      } catch (inner) {
        if (["LimitExceededException", "InvalidParameterException"].includes(inner.code)) {
          await this.#rejectOneByOne(name, part, inner);
        } else throw inner;
      }
    }
  }

  async #deleted(name) {
    const keys = await this.store.datasetDeleted(name);
    this.options.onDatasetDeleted?.(name);
    this.#emitChange(name, keys, "remote");
    this.channel.postMessage({ type: "remote", dataset: name, keys });
  }

  async #onEvent(event) {
    switch (event.type) {
      case "changed":
        this.datasets.add(event.dataset);
        await this.#serially(event.dataset, async () => {
          const info = await this.store.datasetInfo(event.dataset);
          const action = eventAction(info.lastSyncCount, event);
          if (action === "apply") {
            await this.#apply(event.dataset, event.records);
            await this.store.saveDatasetInfo({ ...info, lastSyncCount: event.syncCount });
          } else if (action === "pull" && this.transport) {
            await this.#pull(event.dataset);
          }
        });
        break;
      case "deleted":
        await this.#serially(event.dataset, () => this.#deleted(event.dataset));
        break;
      case "merged":
        this.options.onMerged?.(event);
        this.dispatchEvent(new CustomEvent("merged", { detail: event }));
        if (event.into === this.identityId) this.#kick(); // another identity's data arrived
        break;
      case "revoked":
        this.session.expiresAt = 0;
        break;
    }
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
