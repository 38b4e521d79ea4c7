// A sync round trip with the AWS SDK for JavaScript v3, as an app would write it:
// credentials from fromCognitoIdentityPool (GetId + GetCredentialsForIdentity), then
// ListRecords / UpdateRecords / ListRecords / ListDatasets.
// Usage: node sync_v3.mjs <endpoint> <identity pool id> <dataset>; prints a JSON report.
import {
  CognitoSyncClient,
  ListRecordsCommand,
  UpdateRecordsCommand,
  ListDatasetsCommand,
} from "@aws-sdk/client-cognito-sync";
import { fromCognitoIdentityPool } from "@aws-sdk/credential-providers";

const [endpoint, identityPoolId, datasetName] = process.argv.slice(2);
const region = "us-east-1";

const credentials = fromCognitoIdentityPool({
  identityPoolId,
  clientConfig: { region, endpoint },
});
const { identityId: IdentityId } = await credentials();
const sync = new CognitoSyncClient({ region, endpoint, credentials });
const where = { IdentityPoolId: identityPoolId, IdentityId, DatasetName: datasetName };

const first = await sync.send(new ListRecordsCommand({ ...where, LastSyncCount: 0 }));
const updated = await sync.send(
  new UpdateRecordsCommand({
    ...where,
    SyncSessionToken: first.SyncSessionToken,
    RecordPatches: [
      { Op: "replace", Key: "greeting", Value: "hello from v3", SyncCount: 0,
        DeviceLastModifiedDate: new Date(Date.UTC(2026, 10, 26, 8, 0, 0, 123)) },
      { Op: "remove", Key: "never-there", Value: "", SyncCount: 0 },
    ],
  }),
);
const second = await sync.send(new ListRecordsCommand({ ...where, LastSyncCount: 0 }));
const datasets = await sync.send(new ListDatasetsCommand({ IdentityPoolId: identityPoolId, IdentityId }));

console.log(
  JSON.stringify({
    identityId: IdentityId,
    firstExists: first.DatasetExists,
    firstCount: first.DatasetSyncCount,
    updated: updated.Records.map((r) => [r.Key, r.Value ?? null, r.SyncCount]),
    records: second.Records.map((r) => ({
      key: r.Key,
      value: r.Value ?? null,
      syncCount: r.SyncCount,
      modifiedIsDate: r.LastModifiedDate instanceof Date && !isNaN(r.LastModifiedDate),
      device: r.DeviceLastModifiedDate ? r.DeviceLastModifiedDate.toISOString() : null,
    })),
    datasetSyncCount: second.DatasetSyncCount,
    datasetNames: datasets.Datasets.map((d) => d.DatasetName),
    datasetCreatedIsDate: datasets.Datasets[0].CreationDate instanceof Date,
  }),
);
