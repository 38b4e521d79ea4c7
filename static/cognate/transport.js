// The two ways to reach the server: the sync websocket (docs/sync-protocol.md), and the
// Cognito Sync HTTP API (docs/sync.md) when a websocket cannot be opened. Both offer
// pull(dataset, since, next) and push(dataset, patches, deviceId) with the same answers.

export class SyncError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "SyncError";
    this.code = code;
    Object.assign(this, extra);
  }
}

// Websocket close codes (docs/sync-protocol.md, "Close codes"; the server names its own in
// syncstore/consumers.py). Any other close means: reconnect with backoff.
export const CLOSE_NORMAL = 1000; // the client is done with the socket
export const CLOSE_NO_ANSWER = 4000; // the client gave up waiting for an answer
export const CLOSE_UNAUTHENTICATED = 4401; // no valid token: get a fresh one, reconnect
export const CLOSE_REVOKED = 4403; // the identity was disabled, merged away or deleted

const PING_EVERY = 60000;
const REQUEST_TIMEOUT = 20000;

export class SocketTransport {
  kind = "websocket";

  constructor(url, { onEvent, onClose }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.waiting = new Map();
    this.nextId = 1;
    this.socket = null;
  }

  /** Open and authenticate; resolves with the server's `ready`. */
  open(token) {
    return new Promise((resolve, reject) => {
      let socket;
      try {
        socket = new WebSocket(this.url, ["cognate.sync.v1"]);
      } catch (error) {
        reject(new SyncError("SocketUnavailable", String(error)));
        return;
      }
      this.socket = socket;
      let ready = false;
      socket.onopen = () => {
        this.request({ type: "auth", token }).then(
          (answer) => {
            ready = true;
            this.pinger = setInterval(() => this.request({ type: "ping" }).catch(() => {}), PING_EVERY);
            resolve(answer);
          },
          (error) => {
            socket.close();
            reject(error);
          },
        );
      };
      socket.onmessage = (message) => this.receive(message.data);
      socket.onclose = (event) => {
        clearInterval(this.pinger);
        for (const { fail } of this.waiting.values()) fail(new SyncError("SocketClosed", `socket closed (${event.code})`));
        this.waiting.clear();
        if (!ready) reject(new SyncError("SocketClosed", `socket closed before it was ready (${event.code})`, { closeCode: event.code }));
        else this.onClose(event.code);
      };
    });
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message.id !== undefined && this.waiting.has(message.id)) {
      const { done, fail } = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.type === "error") fail(new SyncError(message.code, message.message, { conflicts: message.conflicts }));
      else done(message);
      return;
    }
    this.onEvent(message);
  }

  request(message) {
    const id = this.nextId++;
    return new Promise((done, fail) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        fail(new SyncError("SocketClosed", "the socket is not open"));
        return;
      }
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        fail(new SyncError("Timeout", `no answer to ${message.type} within ${REQUEST_TIMEOUT} ms`));
        this.socket?.close(CLOSE_NO_ANSWER);
      }, REQUEST_TIMEOUT);
      this.waiting.set(id, {
        done: (value) => (clearTimeout(timer), done(value)),
        fail: (error) => (clearTimeout(timer), fail(error)),
      });
      this.socket.send(JSON.stringify({ ...message, id }));
    });
  }

  renew(token) {
    return this.request({ type: "auth", token });
  }

  pull(dataset, since, next) {
    return this.request({ type: "pull", dataset, since, ...(next ? { next } : {}) });
  }

  push(dataset, patches, deviceId) {
    return this.request({ type: "push", dataset, patches, deviceId });
  }

  close() {
    if (this.socket) {
      this.socket.onclose = () => clearInterval(this.pinger);
      this.socket.close(CLOSE_NORMAL);
      for (const { fail } of this.waiting.values()) fail(new SyncError("SocketClosed", "closed by the client"));
      this.waiting.clear();
    }
  }
}

/** The Cognito Sync HTTP API, authenticated with the OpenID token (Authorization: Bearer). */
export class HttpTransport {
  kind = "http";

  constructor(endpoint, session) {
    this.endpoint = endpoint;
    this.session = session;
  }

  renew(token) {
    this.session = { ...this.session, token };
  }

  url(dataset, suffix = "") {
    const pool = encodeURIComponent(this.session.identityPoolId);
    const id = encodeURIComponent(this.session.identityId);
    return `${this.endpoint}/aws/identitypools/${pool}/identities/${id}/datasets/${encodeURIComponent(dataset)}${suffix}`;
  }

  async call(method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${this.session.token}`, "Content-Type": "application/json" },
        body: body ? JSON.stringify(body) : undefined,
        cache: "no-store",
      });
    } catch (error) {
      throw new SyncError("NetworkError", String(error));
    }
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      const code = (response.headers.get("x-amzn-ErrorType") || payload.__type || "ServiceError").split(":")[0];
      throw new SyncError(code, payload.message || payload.Message || response.statusText, { status: response.status });
    }
    return payload;
  }

  async list(dataset, since, next) {
    const query = new URLSearchParams({ lastSyncCount: String(since) });
    if (next) query.set("nextToken", next);
    return this.call("GET", this.url(dataset, `/records?${query}`));
  }

  async pull(dataset, since, next) {
    const page = await this.list(dataset, since, next);
    return {
      dataset,
      exists: page.DatasetExists,
      syncCount: page.DatasetSyncCount,
      deletedAfterSince: page.DatasetDeletedAfterRequestedSyncCount,
      records: page.Records || [],
      next: page.NextToken || null,
      mergedDatasets: page.MergedDatasetNames || [],
    };
  }

  async push(dataset, patches, deviceId) {
    // UpdateRecords needs a SyncSessionToken from ListRecords.
    const since = Math.max(0, ...patches.map((p) => p.SyncCount));
    const { SyncSessionToken } = await this.list(dataset, since);
    const answer = await this.call("POST", this.url(dataset), {
      SyncSessionToken,
      RecordPatches: patches,
      ...(deviceId ? { DeviceId: deviceId } : {}),
    });
    const records = answer.Records || [];
    return { dataset, records, syncCount: Math.max(0, ...records.map((r) => r.SyncCount)) };
  }

  close() {}
}
