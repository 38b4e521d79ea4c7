// The tabs of one browser share one socket: they elect a leader (Web Locks) that holds it and
// syncs for all of them, and tell each other about writes, remote changes, conflicts, the
// sync status and a new identity through a BroadcastChannel.

const LEADER_LOCK = "cognate-sync-leader";

export class Tabs {
  #client;
  #parts;
  #channel;
  #releaseLeadership;

  constructor(client, parts) {
    this.#client = client;
    this.#parts = parts;
  }

  /** Join the other tabs of this browser on the channel `name`. */
  open(name) {
    this.#channel = new BroadcastChannel(name);
    this.#channel.onmessage = (event) => this.#receive(event.data);
  }

  post(message) {
    this.#channel.postMessage(message);
  }

  /** Lead as soon as no other tab does (at once without Web Locks); a follower asks the leader for its status. */
  elect() {
    const lead = () =>
      new Promise((release) => {
        this.#releaseLeadership = release;
        this.#parts.setStatus({ leader: true });
        this.#parts.loop.run();
      });
    if (navigator.locks) navigator.locks.request(LEADER_LOCK, lead);
    else lead();
    if (!this.#client.status.leader) this.post({ type: "hello" });
  }

  /** The leader shows its status to the other tabs (each tab counts its own pending changes). */
  shareStatus(change) {
    if (this.#client.status.leader && this.#channel && !("pending" in change && Object.keys(change).length === 1)) {
      this.#postStatus();
    }
  }

  close() {
    this.#releaseLeadership?.();
    this.#channel?.close();
  }

  #postStatus() {
    this.post({ type: "status", status: { ...this.#client.status, leader: false } });
  }

  async #receive(message) {
    const client = this.#client;
    const { exchange, loop, session } = this.#parts;
    if (client.closed) return;
    switch (message.type) {
      case "local":
        if (message.identityId !== client.identityId) return;
        this.#parts.emitChange(message.dataset, message.keys, "local");
        await this.#parts.updatePending();
        if (client.status.leader) {
          client.datasets.add(message.dataset);
          exchange.pushSoon(message.dataset);
        }
        break;
      case "remote":
        this.#parts.emitChange(message.dataset, message.keys, "remote");
        await this.#parts.updatePending();
        break;
      case "conflicts":
        this.#parts.emitChange(null, [], "conflicts");
        break;
      case "status":
        if (!client.status.leader) {
          const { state, transport, online } = message.status;
          this.#parts.setStatus({ state, transport, online });
        }
        break;
      case "hello":
        if (client.status.leader) this.#postStatus();
        break;
      case "sync":
        if (client.status.leader) loop.kick();
        break;
      case "session":
        await session.followOtherTab();
        break;
    }
  }
}
