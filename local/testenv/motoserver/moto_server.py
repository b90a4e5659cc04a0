# moto_server, with its RotateSecret and replicas brought closer to the
# real service.
#
# moto keeps only RotationRules.AutomaticallyAfterDays: it drops
# ScheduleExpression and Duration, and reports a secret scheduled by an
# expression as not rotating. The real DescribeSecret returns the rules as
# they were set, and RotationEnabled true.
#
# moto reports every replica as encrypted with aws/secretsmanager, whatever
# key it was given. The real ReplicationStatus names each replica's own
# KmsKeyId (API_DescribeSecret, ReplicationStatusType). Everything else is
# moto's own.
import sys

from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend
from moto.server import main

_rotate_secret = SecretsManagerBackend.rotate_secret
_to_dict = FakeSecret.to_dict


def rotate_secret(self, secret_id, client_request_token=None, rotation_lambda_arn=None,
                  rotation_rules=None, rotate_immediately=True):
    out = _rotate_secret(self, secret_id, client_request_token=client_request_token,
                         rotation_lambda_arn=rotation_lambda_arn, rotation_rules=rotation_rules,
                         rotate_immediately=rotate_immediately)
    if rotation_rules:
        secret = self.secrets[secret_id]
        secret.rotation_rules_as_set = dict(rotation_rules)
        if rotation_rules.get("ScheduleExpression"):
            secret.rotation_enabled = True
    return out


def to_dict(self):
    d = _to_dict(self)
    rules = getattr(self, "rotation_rules_as_set", None)
    if rules and "RotationRules" in d:
        d["RotationRules"] = rules
    return d


_create_replicas = FakeSecret.create_replicas


def create_replicas(self, replica_regions, force_overwrite):
    replicas = _create_replicas(self, replica_regions, force_overwrite)
    for replica, asked in zip(replicas, replica_regions or []):
        if asked.get("KmsKeyId"):
            replica.config["KmsKeyId"] = asked["KmsKeyId"]
    return replicas


FakeSecret.create_replicas = create_replicas
SecretsManagerBackend.rotate_secret = rotate_secret
FakeSecret.to_dict = to_dict



def serve_on_free_port(host):
    """Serves as moto's main does, on a port the kernel picks, and prints
    that port. A port chosen by the caller and bound later can be taken by
    another test's server in between."""
    import os
    import signal

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import signal_handler
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    server = make_server(host, 0, app, threaded=True)
    os.environ["MOTO_PORT"] = str(server.port)
    signal.signal(signal.SIGINT, signal_handler)
    signal.signal(signal.SIGTERM, signal_handler)
    print("listening", server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--free-port"]:
        serve_on_free_port(args[1] if len(args) > 1 else "127.0.0.1")
    else:
        main(args)
