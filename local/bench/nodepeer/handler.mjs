// The Node.js peer: the custom resource many teams would write on the AWS
// SDK for JavaScript v3. A client created at load, a password from
// node:crypto with the postgres rotation template's exclusions,
// CreateSecretCommand (as its documentation shows) with the same JSON
// shape, replicas and tags, and the answer PUT to the ResponseURL as
// cfn-response does. make bench runs it under the same local Runtime API
// as our bootstrap and compares the cold invocations.
//
// The loop at the bottom is what the Node.js runtime does for a handler;
// it is written out so the peer runs as a custom-runtime bootstrap. It is
// lighter than the real runtime, which favours Node.js.
import { randomInt } from "node:crypto";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

const client = new SecretsManagerClient({});

const EXCLUDED = "/@\"'\\:";
const PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const ALPHABET = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + PUNCTUATION].filter((c) => !EXCLUDED.includes(c));

function password(length = 32) {
  for (;;) {
    let p = "";
    for (let i = 0; i < length; i++) p += ALPHABET[randomInt(ALPHABET.length)];
    if (/[a-z]/.test(p) && /[A-Z]/.test(p) && /[0-9]/.test(p) && [...p].some((c) => PUNCTUATION.includes(c))) return p;
  }
}

async function send(event, status, physicalId, data = {}, reason = "See the function's log") {
  const body = JSON.stringify({
    Status: status, Reason: reason, PhysicalResourceId: physicalId, StackId: event.StackId,
    RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId, NoEcho: true, Data: data,
  });
  const response = await fetch(event.ResponseURL, { method: "PUT", body, headers: { "content-type": "" } });
  await response.text();
}

export async function handler(event) {
  const props = event.ResourceProperties;
  try {
    if (event.RequestType !== "Create") {
      await send(event, "SUCCESS", event.PhysicalResourceId);
      return;
    }
    const secret = {
      engine: props.Engine, host: props.Host, username: props.Username, password: password(),
      dbname: props.DbName ?? "postgres", port: Number(props.Port ?? 5432),
    };
    const created = await client.send(new CreateSecretCommand({
      Name: props.Name,
      Description: props.Description ?? "",
      SecretString: JSON.stringify(secret),
      ClientRequestToken: event.RequestId,
      Tags: (props.Tags ?? []).map((t) => ({ Key: t.Key, Value: t.Value })),
      AddReplicaRegions: (props.ReplicaRegions ?? []).map((r) => ({ Region: r.Region })),
    }));
    await send(event, "SUCCESS", created.ARN, { Arn: created.ARN, Name: created.Name, VersionId: created.VersionId, Username: props.Username });
  } catch (error) { // the stack must hear back
    await send(event, "FAILED", event.PhysicalResourceId ?? event.RequestId, {}, String(error));
  }
}

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/`;
for (;;) {
  const next = await fetch(api + "next");
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  let path = "/response", result;
  try {
    result = JSON.stringify((await handler(event)) ?? null);
  } catch (error) {
    path = "/error";
    result = JSON.stringify({ errorMessage: String(error), errorType: error.name });
  }
  await (await fetch(api + requestId + path, { method: "POST", body: result })).text();
}
