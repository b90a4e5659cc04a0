// Create, read and delete a secret through the provisioner's HTTP API with
// IAM authorization: requests signed (SigV4, service execute-api) with the
// AWS SDK for JavaScript v3's signer and the default credential chain.
// API_URL is the stack's HttpApiUrl output; AWS_REGION its Region.
import { Sha256 } from "@aws-crypto/sha256-js";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

const api = new URL(process.env.API_URL);
const signer = new SignatureV4({
  credentials: defaultProvider(),
  region: process.env.AWS_REGION,
  service: "execute-api",
  sha256: Sha256,
});

async function call(method, path, { body, query, headers = {} } = {}) {
  const request = new HttpRequest({
    method,
    protocol: api.protocol,
    hostname: api.hostname,
    port: api.port ? Number(api.port) : undefined,
    path,
    query,
    headers: { host: api.host, ...headers, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const signed = await signer.sign(request);
  const url = new URL(path, api);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  const { host, ...sent } = signed.headers; // fetch sets Host itself
  const response = await fetch(url, { method, headers: sent, body: signed.body });
  return { status: response.status, body: await response.json() };
}

const name = process.env.SECRET_NAME ?? "app/orders/mysql";
const created = await call("POST", "/secrets", {
  body: { name, engine: "mysql", host: "orders.cluster-x.eu-west-1.rds.amazonaws.com", dbname: "orders" },
  headers: { "idempotency-key": `create-${name}-1` }, // the same key on a retry: one secret
});
console.log("POST /secrets", created.status, created.body.arn ?? JSON.stringify(created.body.error));

const described = await call("GET", `/secrets/${name}`);
console.log("GET", described.status, described.body.name ?? JSON.stringify(described.body.error));

const deleted = await call("DELETE", `/secrets/${name}`, { query: { recoveryWindowInDays: "7" } });
console.log("DELETE", deleted.status, deleted.body.deletionDate ?? JSON.stringify(deleted.body.error));
