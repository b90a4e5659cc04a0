"""Runs one rotation of a secret with AWS's own multi-user rotation
function (aws-samples/aws-secrets-manager-rotation-lambdas), against the
Secrets Manager at AWS_ENDPOINT_URL_SECRETSMANAGER.

Usage: driver.py <lambda_function.py> <secret ARN>

The four steps run through the function's own lambda_handler. One thing
is put right about the service: Secrets Manager's RotateSecret lists the
new version's id as AWSPENDING before createSecret stores a value under
it, which the handler checks; moto's instead copies the current value
into it, which would make createSecret keep the old credentials. So
DescribeSecret here lists the token as the real service does, and the
rest is moto's.
"""
import importlib.util
import os
import sys
import uuid

import boto3

# The functions trust Amazon Linux's CA bundle, where Lambda keeps it;
# here it is Debian's.
import ssl

lambda_bundle, here = "/etc/pki/tls/cert.pem", "/etc/ssl/certs/ca-certificates.crt"
make_context = ssl.create_default_context


def create_default_context(*args, cafile=None, **kwargs):
    if cafile == lambda_bundle and not os.path.exists(lambda_bundle):
        cafile = here
    return make_context(*args, cafile=cafile, **kwargs)


ssl.create_default_context = create_default_context

path, arn = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("rotation", path)
function = importlib.util.module_from_spec(spec)
spec.loader.exec_module(function)

endpoint = os.environ["AWS_ENDPOINT_URL_SECRETSMANAGER"]
os.environ["SECRETS_MANAGER_ENDPOINT"] = endpoint
token = str(uuid.uuid4())
real = boto3.client("secretsmanager", endpoint_url=endpoint)


class SecretsManager:
    def __getattr__(self, name):
        return getattr(real, name)

    def describe_secret(self, **kwargs):
        out = real.describe_secret(**kwargs)
        if kwargs.get("SecretId") == arn:
            out["RotationEnabled"] = True
            out.setdefault("VersionIdsToStages", {}).setdefault(token, ["AWSPENDING"])
        return out


make_client = boto3.client
function.boto3.client = lambda service, *a, **k: SecretsManager() if service == "secretsmanager" else make_client(service, *a, **k)
for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
    function.lambda_handler({"Step": step, "SecretId": arn, "ClientRequestToken": token}, None)
print(token)
