// The demo notes app: everything goes through the browser client; it works offline.
import { Cognate } from "../cognate/client.js";

const $ = (id) => document.getElementById(id);
const NOTES = "notes";
let cognate;
let notes;
let openKey = null;
let saveTimer = null;
let dirty = false; // edits typed but not saved yet

function parse(value) {
  try {
    const note = JSON.parse(value);
    return { title: String(note.title ?? ""), body: String(note.body ?? ""), updated: Number(note.updated) || 0 };
  } catch {
    return { title: "", body: String(value ?? ""), updated: 0 };
  }
}

function say(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

function showStatus(status) {
  const online = status.online;
  $("network").textContent = online ? "online" : "offline";
  $("network").className = `pill${online ? "" : " offline"}`;
  const words = { starting: "starting", connecting: "connecting", syncing: "syncing", synced: "synced", offline: "offline" };
  let text = words[status.state] || status.state;
  if (status.pending) text = `${status.pending} to sync`;
  else if (status.state === "synced" && status.transport === "http") text = "synced (HTTP)";
  $("sync").textContent = text;
  $("sync").className = `pill${status.pending ? " pending" : ""}`;
  $("sync").dataset.state = status.state;
  $("sync").dataset.pending = String(status.pending || 0);
}

function showAccount() {
  const session = cognate.session;
  const signedIn = session.authenticated;
  $("who").textContent = signedIn ? `Signed in${session.username ? ` as ${session.username}` : ""}` : "Guest (your notes stay on this browser and the server)";
  $("who").dataset.identityId = session.identityId;
  $("signed-out-actions").hidden = signedIn;
  $("sign-out").hidden = !signedIn;
}

async function renderList() {
  const all = await notes.all();
  const items = all.map((r) => ({ key: r.key, pending: r.pending, ...parse(r.value) }));
  items.sort((a, b) => b.updated - a.updated || a.key.localeCompare(b.key));
  const list = $("notes");
  list.replaceChildren(
    ...items.map((note) => {
      const li = document.createElement("li");
      li.dataset.key = note.key;
      li.className = note.pending ? "pending" : "";
      const title = document.createElement("div");
      title.className = "title";
      title.textContent = note.title || "Untitled";
      const preview = document.createElement("div");
      preview.className = "preview";
      preview.textContent = note.body;
      li.append(title, preview);
      li.addEventListener("click", () => openNote(note.key));
      return li;
    }),
  );
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No notes yet.";
    list.append(li);
  }
}

async function renderConflicts() {
  const conflicts = await cognate.conflicts(NOTES);
  const kept = await keptByMerges();
  $("conflict-count").textContent = String(conflicts.length + kept.length);
  const rows = conflicts.map((conflict) => {
    const li = document.createElement("li");
    li.dataset.key = conflict.key;
    const kept = conflict.kept ? parse(conflict.kept.value) : null;
    const head = document.createElement("div");
    head.textContent = kept ? `“${kept.title || "Untitled"}” changed on two devices. Kept:` : `Not saved: ${conflict.reason || "refused by the server"}`;
    li.append(head);
    if (kept) li.append(pre(kept));
    for (const lost of conflict.lost) {
      const label = document.createElement("div");
      label.textContent = `Other version (${lost.by || "another device"}):`;
      const use = button("Use this version", async () => {
        await notes.put(conflict.key, lost.value ?? JSON.stringify({ title: "", body: "", updated: Date.now() }));
        await cognate.dismissConflict(conflict.id);
      });
      li.append(label, pre(lost.value === null ? { title: "(deleted)", body: "" } : parse(lost.value)), use);
    }
    li.append(button("Dismiss", () => cognate.dismissConflict(conflict.id)));
    return li;
  });
  for (const { dataset, key, value } of kept) {
    const li = document.createElement("li");
    li.dataset.key = key;
    li.className = "merge";
    const head = document.createElement("div");
    head.textContent = "A version kept when two of your devices' notes were merged:";
    li.append(
      head,
      pre(parse(value)),
      button("Use this version", async () => {
        await notes.put(key, value);
        await cognate.dataset(dataset).remove(key);
      }),
      button("Dismiss", () => cognate.dataset(dataset).remove(key)),
    );
    rows.push(li);
  }
  $("conflicts").replaceChildren(...rows);
}

/** Values a server-side merge kept aside in `notes.<identity id>` datasets. */
async function keptByMerges() {
  const out = [];
  for (const name of await cognate.mergedDatasets(NOTES)) {
    for (const record of await cognate.dataset(name).all()) out.push({ dataset: name, key: record.key, value: record.value });
  }
  return out;
}

function pre(note) {
  const el = document.createElement("pre");
  el.className = "version";
  el.textContent = `${note.title}\n${note.body}`;
  return el;
}

function button(text, action) {
  const el = document.createElement("button");
  el.type = "button";
  el.textContent = text;
  el.addEventListener("click", action);
  return el;
}

async function openNote(key) {
  openKey = key;
  const value = await notes.get(key);
  const note = value === undefined ? { title: "", body: "" } : parse(value);
  $("title").value = note.title;
  $("body").value = note.body;
  $("editor").hidden = false;
  $("editor").dataset.key = key;
  $("saved").textContent = "";
  $("title").focus();
}

function scheduleSave() {
  dirty = true;
  clearTimeout(saveTimer);
  $("saved").textContent = "…";
  saveTimer = setTimeout(saveNow, 250);
}

async function saveNow() {
  clearTimeout(saveTimer);
  if (!openKey) return;
  const value = JSON.stringify({ title: $("title").value, body: $("body").value, updated: Date.now() });
  dirty = false;
  await notes.put(openKey, value);
  $("saved").textContent = "saved";
}

// Renders run one at a time, the last one after the last change (never a stale one last).
let rendering = null;
let again = false;
async function refresh() {
  if (rendering) {
    again = true;
    return rendering;
  }
  rendering = (async () => {
    do {
      again = false;
      await renderList();
      await renderConflicts();
    } while (again);
  })();
  try {
    await rendering;
  } finally {
    rendering = null;
  }
}

async function onChange(detail) {
  await refresh();
  // Another device changed the open note: show it, unless the person is editing here.
  if (openKey && detail.source === "remote" && (detail.keys || []).includes(openKey)) {
    const value = await notes.get(openKey);
    if (value === undefined) {
      closeEditor();
    } else if (!dirty && document.activeElement !== $("title") && document.activeElement !== $("body")) {
      const note = parse(value);
      $("title").value = note.title;
      $("body").value = note.body;
    }
  }
}

function closeEditor() {
  openKey = null;
  $("editor").hidden = true;
}

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => console.warn("service worker", error));
  }
  try {
    cognate = await Cognate.start({ datasets: [NOTES] });
  } catch (error) {
    say(`Could not start: ${error.message}`);
    throw error;
  }
  window.cognate = cognate;
  notes = cognate.dataset(NOTES);
  cognate.addEventListener("status", (event) => showStatus(event.detail));
  cognate.addEventListener("change", (event) => onChange(event.detail));
  cognate.addEventListener("mergeddatasets", () => refresh());
  cognate.addEventListener("identitychange", () => {
    closeEditor();
    showAccount();
  });
  cognate.addEventListener("error", (event) => console.warn("sync", event.detail));
  showStatus(cognate.status);
  showAccount();

  $("new-note").addEventListener("click", async () => {
    const key = `note-${crypto.randomUUID()}`;
    await notes.put(key, JSON.stringify({ title: "", body: "", updated: Date.now() }));
    await openNote(key);
  });
  $("title").addEventListener("input", scheduleSave);
  $("body").addEventListener("input", scheduleSave);
  $("close").addEventListener("click", async () => {
    await saveNow();
    closeEditor();
  });
  $("delete").addEventListener("click", async () => {
    if (!openKey) return;
    const key = openKey;
    closeEditor();
    await notes.remove(key);
  });
  $("sign-out").addEventListener("click", async () => {
    say("");
    try {
      await cognate.signOut();
    } catch (error) {
      say(`${error.message} (your notes are safe on this device)`);
    }
  });
  for (const link of document.querySelectorAll("#signed-out-actions a")) {
    // Push what is pending first when online; anything left comes along after sign-in.
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      await cognate.flush({ timeout: 2000 }).catch(() => {});
      location.href = link.href;
    });
  }
  await refresh();
  document.body.dataset.readyAt = String(Math.round(performance.now()));
  document.body.dataset.ready = "true";
}

main();
