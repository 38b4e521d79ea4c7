// amazon-cognito-js's Sync Manager with the AWS SDK for JavaScript v2, in a page of another
// origin than Cognate (run by tests/browser/test_aws_sdk_in_browser.py): get an identity
// (a new guest, or `identityId`), put `value` under `key` unless it is null, synchronize,
// and return the identity and the value now stored.
async ([endpoint, poolId, identityId, key, value]) => {
  const call = (fn) => new Promise((ok, fail) => fn((error, result) => error ? fail(error) : ok(result)));
  AWS.config.update({ region: "us-east-1", cognitosync: { endpoint } });
  const params = { IdentityPoolId: poolId };
  if (identityId) params.IdentityId = identityId;
  AWS.config.credentials = new AWS.CognitoIdentityCredentials(params, { endpoint });
  await call((cb) => AWS.config.credentials.get(cb));
  const manager = new AWS.CognitoSyncManager();
  const dataset = await call((cb) => manager.openOrCreateDataset("settings", cb));
  if (value !== null) await call((cb) => dataset.put(key, value, cb));
  await new Promise((ok, fail) => dataset.synchronize({
    onSuccess: () => ok(),
    onFailure: (error) => fail(error),
    onConflict: (ds, conflicts, cb) => ds.resolve(conflicts.map((c) => c.resolveWithRemoteRecord()), () => cb(true)),
    onDatasetDeleted: (ds, name, cb) => cb(true),
    onDatasetsMerged: (ds, names, cb) => cb(false),
  }));
  return { identityId: AWS.config.credentials.identityId, value: await call((cb) => dataset.get(key, cb)) };
}
