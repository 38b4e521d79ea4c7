// An app written for AWS Amplify v6 (identity pools, guest access), bundled by the browser
// tests with esbuild and served from another origin than Cognate. Everything it does is on
// `window.app`, for Playwright to call.
import { Amplify } from "aws-amplify";
import { fetchAuthSession } from "aws-amplify/auth";
import {
  CognitoSyncClient,
  ListRecordsCommand,
  UpdateRecordsCommand,
} from "@aws-sdk/client-cognito-sync";

const failure = (error) => ({ error: { name: error.name, message: error.message } });

window.app = {
  configure(endpoint, identityPoolId) {
    Amplify.configure({
      Auth: { Cognito: { identityPoolId, identityPoolEndpoint: endpoint, allowGuestAccess: true } },
    });
  },

  async session() {
    try {
      const { identityId, credentials } = await fetchAuthSession();
      return {
        identityId,
        accessKeyId: credentials?.accessKeyId,
        expiration: credentials?.expiration?.getTime(),
      };
    } catch (error) {
      return failure(error);
    }
  },

  async clearCredentials() {
    await Amplify.clearCredentials();
  },

  // The session's credentials on the identity's dataset, with the AWS SDK v3's Cognito Sync
  // client: write `value` under `key` when given, then read the dataset back.
  async dataset(endpoint, identityPoolId, name, key, value) {
    try {
      const { identityId, credentials } = await fetchAuthSession();
      const sync = new CognitoSyncClient({
        endpoint,
        region: identityPoolId.split(":")[0],
        credentials,
      });
      const where = { IdentityPoolId: identityPoolId, IdentityId: identityId, DatasetName: name };
      const before = await sync.send(new ListRecordsCommand(where));
      if (value !== null) {
        const current = before.Records.find((record) => record.Key === key);
        await sync.send(
          new UpdateRecordsCommand({
            ...where,
            SyncSessionToken: before.SyncSessionToken,
            RecordPatches: [{ Op: "replace", Key: key, Value: value, SyncCount: current ? current.SyncCount : 0 }],
          }),
        );
      }
      const after = await sync.send(new ListRecordsCommand(where));
      return {
        identityId,
        syncCount: after.DatasetSyncCount,
        records: Object.fromEntries(after.Records.map((record) => [record.Key, record.Value])),
      };
    } catch (error) {
      return failure(error);
    }
  },

  // The records of any identity's dataset, with this session's credentials.
  async recordsOf(endpoint, identityPoolId, identityId, name) {
    try {
      const { credentials } = await fetchAuthSession();
      const sync = new CognitoSyncClient({ endpoint, region: identityPoolId.split(":")[0], credentials });
      const listed = await sync.send(
        new ListRecordsCommand({ IdentityPoolId: identityPoolId, IdentityId: identityId, DatasetName: name }),
      );
      return { records: listed.Records };
    } catch (error) {
      return failure(error);
    }
  },

  // What a page can read of an error answer: the headers CORS exposes.
  async rawGetId(endpoint, identityPoolId) {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "AWSCognitoIdentityService.GetId",
        "cache-control": "no-store",
      },
      body: JSON.stringify({ IdentityPoolId: identityPoolId }),
    });
    const headers = {};
    for (const name of ["x-amzn-RequestId", "x-amzn-ErrorType", "x-amzn-ErrorMessage", "Date"]) {
      headers[name] = response.headers.get(name);
    }
    return { status: response.status, headers, body: await response.json() };
  },
};
