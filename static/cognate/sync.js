// The leader's sync loop: connect (the websocket, or HTTP polling when the socket will not
// open), sync every dataset, wait for the socket to close, reconnect with backoff; a token
// refused or an identity gone on the way is dealt with before the next attempt.
import { backoffDelay } from "./logic.js";
import { CLOSE_REVOKED, CLOSE_UNAUTHENTICATED, HttpTransport, SocketTransport, SyncError } from "./transport.js";

const SOCKET_FAILURES_BEFORE_HTTP = 3;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class SyncLoop {
  #client;
  #parts;
  #transport = null;
  // Each run and each stop starts a new generation; a loop of an older one ends.
  #generation = 0;
  #kickWaiter;
  #closedSocket;
  #socketDone;

  constructor(client, parts) {
    this.#client = client;
    this.#parts = parts;
  }

  /** The open socket or HTTP transport, null while not connected. */
  get transport() {
    return this.#transport;
  }

  async run() {
    const client = this.#client;
    const { session, setStatus } = this.#parts;
    let attempt = 0;
    let socketFailures = 0;
    const generation = ++this.#generation;
    while (!client.closed && generation === this.#generation) {
      if (!navigator.onLine) {
        setStatus({ state: "offline", transport: null });
        await this.#waitFor("online");
        continue;
      }
      try {
        await session.freshToken();
        const useHttp = client.options.transport === "http" || (client.options.transport === "auto" && socketFailures >= SOCKET_FAILURES_BEFORE_HTTP);
        setStatus({ state: "connecting" });
        if (useHttp) {
          await this.#poll(generation);
          socketFailures = 0; // try the socket again after a while on HTTP
        } else {
          await this.#connect(generation);
          attempt = 0;
          socketFailures = 0;
          await this.#closedSocket;
        }
      } catch (error) {
        if (client.closed || generation !== this.#generation) break; // another identity's loop runs now
        if (error?.code === "SignInRequired") {
          // Work goes on locally; syncing resumes when the app calls signIn.
          setStatus({ state: "signin-required", transport: null });
          client.dispatchEvent(new CustomEvent("signinrequired", { detail: error }));
          await this.#kicked();
          continue;
        }
        if (error?.closeCode === CLOSE_UNAUTHENTICATED || error?.code === "NotAuthorizedException") client.session.expiresAt = 0;
        if (error?.closeCode === CLOSE_REVOKED) await session.identityGone();
        else if (error instanceof SyncError && ["SocketClosed", "SocketUnavailable"].includes(error.code)) socketFailures += 1;
        else client.dispatchEvent(new CustomEvent("error", { detail: error }));
      }
      this.#transport = null;
      if (client.closed || generation !== this.#generation) break;
      setStatus({ state: navigator.onLine ? "connecting" : "offline", transport: null });
      await Promise.race([sleep(backoffDelay(attempt++)), this.#waitFor("online"), this.#kicked()]);
    }
  }

  /** Sync every dataset now, and end a wait for the next attempt or poll. */
  kick() {
    if (this.#kickWaiter) this.#kickWaiter();
    if (this.#transport) for (const name of this.#client.datasets) this.#parts.exchange.sync(name);
  }

  /** Close the connection; the loop goes on (an open socket may linger without a network). */
  drop() {
    this.#transport?.close();
    this.#transport = null;
    this.#socketDone?.();
    this.#kickWaiter?.();
  }

  /** End the loop (a new `run` starts another). */
  stop() {
    this.#generation += 1;
    this.#parts.session.cancelRenewal();
    this.#transport?.close();
    this.#transport = null;
    this.#kickWaiter?.();
  }

  /** Resolves once nothing is pending (pushed), or rejects after `timeout` ms. */
  async flush({ timeout = 10000 } = {}) {
    const client = this.#client;
    const deadline = Date.now() + timeout;
    this.#parts.tabs.post({ type: "sync" });
    if (client.status.leader) this.kick();
    while ((await client.store.pendingCount()) > 0) {
      if (Date.now() > deadline) {
        throw new SyncError("PendingChanges", "Some changes are not pushed yet (offline?): try again when online.");
      }
      await sleep(100);
    }
  }

  #kicked() {
    return new Promise((resolve) => (this.#kickWaiter = resolve));
  }

  #waitFor(eventName) {
    return new Promise((resolve) => window.addEventListener(eventName, resolve, { once: true }));
  }

  async #connect(generation) {
    const client = this.#client;
    const url = `${client.endpoint.replace(/^http/, "ws") || location.origin.replace(/^http/, "ws")}/ws/sync`;
    let socketClosed;
    this.#closedSocket = new Promise((resolve, reject) => (socketClosed = { resolve, reject }));
    this.#socketDone = () => socketClosed.resolve();
    const socket = new SocketTransport(url, {
      onEvent: (event) => this.#parts.exchange.onEvent(event),
      onClose: (code) => {
        if (this.#transport === socket) this.#transport = null;
        if (code === CLOSE_REVOKED || code === CLOSE_UNAUTHENTICATED) {
          socketClosed.reject(Object.assign(new SyncError("SocketClosed", `closed ${code}`), { closeCode: code }));
        } else socketClosed.resolve();
      },
    });
    await socket.open(client.session.token);
    if (generation !== this.#generation) return socket.close();
    this.#transport = socket;
    this.#parts.setStatus({ transport: "websocket" });
    this.#parts.session.scheduleRenewal();
    await this.#parts.exchange.syncAll();
  }

  async #poll(generation) {
    const client = this.#client;
    this.#transport = new HttpTransport(client.endpoint, client.session);
    this.#parts.setStatus({ transport: "http" });
    const until = Date.now() + 60000; // then try the websocket again
    while (!client.closed && generation === this.#generation && Date.now() < until && navigator.onLine) {
      await this.#parts.session.freshToken();
      this.#transport.renew(client.session.token);
      await this.#parts.exchange.syncAll();
      await Promise.race([sleep(client.options.pollInterval), this.#kicked()]);
    }
  }
}
