"""The Python peer: the custom resource a user would otherwise write.

A boto3 client created at import, a password from the secrets module with
the postgres rotation template's exclusions, create_secret with the same
JSON shape, replicas and tags, and the answer PUT to the ResponseURL the
way cfn-response does. make bench runs it under the same local Runtime API
as our bootstrap and compares the cold invocations.

The loop at the bottom is what awslambdaric (the Python runtime interface
client) does; it is written out because that package cannot be installed
here. It is lighter than the real one, which favours Python.
"""
import json
import os
import secrets
import string
import urllib.request

import boto3

client = boto3.client("secretsmanager")

EXCLUDED = "/@\"'\\:"
ALPHABET = [c for c in string.ascii_letters + string.digits + string.punctuation if c not in EXCLUDED]


def password(length=32):
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate) and any(c in string.punctuation for c in candidate)):
            return candidate


def send(event, status, physical_id, data=None, reason=None):
    body = json.dumps({
        "Status": status,
        "Reason": reason or "See the function's log",
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": True,
        "Data": data or {},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    urllib.request.urlopen(request, timeout=10).read()


def handler(event, context):
    props = event["ResourceProperties"]
    try:
        if event["RequestType"] != "Create":
            send(event, "SUCCESS", event["PhysicalResourceId"])
            return
        secret = {
            "engine": props["Engine"],
            "host": props["Host"],
            "username": props["Username"],
            "password": password(),
            "dbname": props.get("DbName", "postgres"),
            "port": int(props.get("Port", 5432)),
        }
        created = client.create_secret(
            Name=props["Name"],
            Description=props.get("Description", ""),
            SecretString=json.dumps(secret),
            ClientRequestToken=event["RequestId"],
            Tags=[{"Key": t["Key"], "Value": t["Value"]} for t in props.get("Tags", [])],
            AddReplicaRegions=[{"Region": r["Region"]} for r in props.get("ReplicaRegions", [])],
        )
        send(event, "SUCCESS", created["ARN"], {"Arn": created["ARN"], "Name": created["Name"],
                                                "VersionId": created["VersionId"], "Username": props["Username"]})
    except Exception as error:  # the stack must hear back
        send(event, "FAILED", event.get("PhysicalResourceId") or event["RequestId"], reason=str(error))


def main():
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
    while True:
        with urllib.request.urlopen(api + "next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read())
        try:
            result, outcome = json.dumps(handler(event, None)), "/response"
        except Exception as error:
            result, outcome = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}), "/error"
        urllib.request.urlopen(urllib.request.Request(api + request_id + outcome, data=result.encode(), method="POST")).read()


if __name__ == "__main__":
    main()
