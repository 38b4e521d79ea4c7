// amazon-cognito-js's Sync Manager (with the AWS SDK for JavaScript v2), as an app uses it,
// against Cognate: device A writes and syncs twice; device B of the same identity writes
// the same key offline, syncs, gets the conflict, keeps its own value; A syncs again.
// Usage: node sync_manager.cjs <endpoint> <identity pool id>; prints a JSON report.
const AWS = require("aws-sdk");
require("amazon-cognito-js");

const [endpoint, identityPoolId] = process.argv.slice(2);
AWS.config.update({ region: "us-east-1", cognitosync: { endpoint } });

const promisify = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

function device(identityId) {
  const params = { IdentityPoolId: identityPoolId };
  if (identityId) params.IdentityId = identityId;
  const credentials = new AWS.CognitoIdentityCredentials(params, { endpoint });
  return { credentials };
}

async function withDevice(dev, work) {
  // The Sync Manager reads the global credentials when it is made.
  AWS.config.credentials = dev.credentials;
  await promisify((cb) => dev.credentials.get(cb));
  if (!dev.manager) {
    dev.manager = new AWS.CognitoSyncManager({ DataStore: AWS.CognitoSyncManager.StoreInMemory });
  }
  return work(dev.manager);
}

function synchronize(dataset, events, resolve) {
  return new Promise((done, fail) => {
    dataset.synchronize({
      onSuccess: (ds, newRecords) => { events.push(["success", newRecords.length]); done(); },
      onFailure: (err) => fail(err),
      onConflict: (ds, conflicts, cb) => {
        events.push(["conflict", conflicts.map((c) => [c.getRemoteRecord().getKey(), c.getRemoteRecord().getValue(), c.getLocalRecord().getValue()])]);
        ds.resolve(conflicts.map((c) => (resolve === "local" ? c.resolveWithLocalRecord() : c.resolveWithRemoteRecord())), () => cb(true));
      },
      onDatasetDeleted: (ds, name, cb) => { events.push(["deleted", name]); cb(false); },
      onDatasetsMerged: (ds, names, cb) => { events.push(["merged", names]); cb(false); },
    });
  });
}

const open = (manager, name) => promisify((cb) => manager.openOrCreateDataset(name, cb));
const put = (dataset, k, v) => promisify((cb) => dataset.put(k, v, cb));
const get = (dataset, k) => promisify((cb) => dataset.get(k, cb));
const remove = (dataset, k) => promisify((cb) => dataset.remove(k, cb));

(async () => {
  const events = { a: [], b: [] };
  const a = device();
  await withDevice(a, async (manager) => {
    const game = await open(manager, "game");
    await put(game, "score", "10");
    await remove(game, "gone");
    await synchronize(game, events.a);
    await put(game, "score", "11");
    await synchronize(game, events.a);
  });
  const identityId = a.credentials.identityId;

  const b = device(identityId);
  await withDevice(b, async (manager) => {
    const game = await open(manager, "game");
    await put(game, "score", "20");
    await synchronize(game, events.b, "local");
  });
  let seenByA;
  await withDevice(a, async (manager) => {
    const game = await open(manager, "game");
    await synchronize(game, events.a);
    seenByA = await get(game, "score");
  });
  console.log(JSON.stringify({ identityId, events, seenByA }));
})().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
