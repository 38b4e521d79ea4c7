// Who this browser is: the session from the site's bootstrap (POST /identity/session) or from
// GetOpenIdToken with provider logins, kept in IndexedDB for offline starts; switching to
// another identity (the unpushed changes of the previous one come along), sign-in, sign-out,
// and renewing the token before it expires.
import { tokenClaims } from "./logic.js";
import { destroyIdentity, openIdentity } from "./store.js";
import { SyncError } from "./transport.js";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class Session {
  #client;
  #parts;
  #renewTimer;

  constructor(client, parts) {
    this.#client = client;
    this.#parts = parts;
  }

  /** At start: a fresh session from the server, else (offline) the one kept here. */
  async resume() {
    const saved = await this.#client.meta.get("session");
    let fresh = null;
    try {
      fresh = await this.#fetch(saved);
    } catch (error) {
      // Offline, or a provider sign-in to renew: carry on with the identity kept here.
      if (!saved || !(error instanceof SyncError) || !["NetworkError", "SignInRequired"].includes(error.code)) throw error;
    }
    await this.#use(fresh || saved, saved);
  }

  /** A fresh session from the server: the site's bootstrap, or GetOpenIdToken with logins. */
  async #fetch(current) {
    const client = this.#client;
    if (current?.mode === "logins") {
      if (!client.options.getLogins) {
        throw new SyncError("SignInRequired", "This identity signed in with a provider: pass getLogins to Cognate.start, or call signIn.");
      }
      return this.#loginsSession(current.identityId, await client.options.getLogins());
    }
    let response;
    try {
      response = await fetch(client.endpoint + client.options.bootstrapUrl, {
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
      response = await fetch(`${this.#client.endpoint}/aws`, {
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
  async #use(session, previous) {
    const client = this.#client;
    const before = client.session || previous;
    client.session = session;
    await client.meta.put("session", session);
    if (client.store?.identityId !== session.identityId) {
      client.store?.close();
      client.store = await openIdentity(session.identityId);
    }
    if (before && before.identityId !== session.identityId) await this.#adopt(before.identityId);
  }

  /** Bring an identity's unpushed changes into the current one, then forget it locally. */
  async #adopt(oldIdentityId) {
    const client = this.#client;
    const old = await openIdentity(oldIdentityId);
    const pending = await old.allPending();
    for (const name of await old.datasetNames()) client.datasets.add(name);
    old.close();
    for (const entry of pending) {
      await client.store.write(entry.dataset, entry.key, entry.value, entry.modified);
      client.datasets.add(entry.dataset);
    }
    await destroyIdentity(oldIdentityId);
  }

  async signIn({ getLogins }) {
    const client = this.#client;
    const { loop } = this.#parts;
    client.options.getLogins = getLogins;
    await loop.flush({ timeout: 5000 }).catch(() => {});
    // The sign-in may merge this identity away (its socket then closes): stop syncing first.
    loop.stop();
    let session;
    try {
      session = await this.#loginsSession(client.session.identityId, await getLogins());
    } catch (error) {
      if (client.status.leader && !client.closed) loop.run();
      throw error;
    }
    await this.#switch(session);
    return session;
  }

  async refreshSession() {
    const session = await this.#fetch(this.#client.session);
    if (session.identityId !== this.#client.session.identityId) await this.#switch(session);
    else await this.#renew(session);
    return session;
  }

  async signOut({ force = false } = {}) {
    const client = this.#client;
    const { loop, tabs } = this.#parts;
    try {
      await loop.flush({ timeout: 10000 });
    } catch (error) {
      if (!force) throw error;
    }
    if (client.session.mode === "site" && client.session.authenticated) {
      await fetch(client.endpoint + client.options.logoutUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
        redirect: "manual",
      });
    }
    const old = client.session.identityId;
    client.options.getLogins = undefined;
    const guest = await this.#fetch(null);
    loop.stop();
    client.store.close();
    client.store = null;
    await destroyIdentity(old);
    client.datasets = new Set(client.options.datasets);
    client.session = null;
    await this.#use(guest, null);
    tabs.post({ type: "session" });
    this.#changedIdentity();
    return guest;
  }

  /** Another tab signed in or out: follow it to its identity. */
  async followOtherTab() {
    const client = this.#client;
    const session = await client.meta.get("session");
    if (session && session.identityId !== client.identityId) {
      this.#parts.loop.stop();
      client.session = session;
      client.store?.close();
      client.store = await openIdentity(session.identityId);
      client.datasets = new Set(client.options.datasets);
      this.#changedIdentity();
    } else if (session) {
      client.session = session;
    }
  }

  async #switch(session) {
    this.#parts.loop.stop();
    await this.#use(session, this.#client.session);
    this.#parts.tabs.post({ type: "session" });
    this.#changedIdentity();
  }

  #changedIdentity() {
    const client = this.#client;
    this.#parts.updatePending();
    client.dispatchEvent(new CustomEvent("identitychange", { detail: { ...client.session, token: undefined } }));
    client.dispatchEvent(new CustomEvent("change", { detail: { dataset: null, keys: [], source: "identity" } }));
    if (client.status.leader && !client.closed) this.#parts.loop.run();
  }

  // --- Tokens -----------------------------------------------------------------------------------
  /** Renew the session when its token expires within `refreshMargin` seconds. */
  async freshToken() {
    const client = this.#client;
    const now = Date.now() / 1000;
    if (client.session.expiresAt - client.options.refreshMargin > now) return;
    const session = await this.#fetch(client.session);
    if (session.identityId !== client.session.identityId) await this.#switch(session);
    else await this.#renew(session);
  }

  async #renew(session) {
    const client = this.#client;
    client.session = session;
    await client.meta.put("session", session);
    const { transport } = this.#parts.loop;
    if (transport) await transport.renew(session.token);
    this.scheduleRenewal();
  }

  scheduleRenewal() {
    const client = this.#client;
    clearTimeout(this.#renewTimer);
    const inMs = (client.session.expiresAt - client.options.refreshMargin) * 1000 - Date.now();
    this.#renewTimer = setTimeout(() => this.freshToken().catch(() => this.#parts.loop.transport?.close()), Math.max(1000, inMs));
  }

  cancelRenewal() {
    clearTimeout(this.#renewTimer);
  }

  /** The identity was merged away, disabled or deleted: ask the server who this browser is now. */
  async identityGone() {
    const client = this.#client;
    const session = await this.#fetch(client.session.mode === "logins" ? client.session : null);
    if (session.identityId !== client.session.identityId) await this.#switch(session);
  }
}
