"""The emulated-AWS tier: the deployed stack's functions on the AWS adapters (TPM_ENV=aws)
against moto in server mode, behind the local API gateway.

What it is. One moto server (a thread, its own port) stands in for DynamoDB, KMS, S3,
Cognito, SES, SNS and SQS. The resources are made from template.yaml's own definitions
(the table's keys and indexes, the Object Lock audit bucket, the user pool with its
schema, MFA and password policy, the secret app client and every group, the SES identity
and configuration set, the failure queue). Every function's environment is the template's
(Globals plus the functions' own variables, intrinsic functions resolved to these
resources), with AWS_ENDPOINT_URL pointing boto3 at moto; the handlers are the ones
`sam build` ships, served by tpm's local gateway (tpm.local.gateway, which plays API
Gateway and its Cognito authorizer) and uvicorn on a free port, with the portal's files at
`/`. Lambda's own Invoke and the stack's outputs (cloudformation DescribeStacks) are
answered in-process, so `tpm practice create --stack` runs exactly as documented.

How to use it for your feature (a few lines):

    from emulated.stack import EmulatedStack

    def test_my_feature_on_aws(emulated: EmulatedStack) -> None:   # fixture in conftest.py
        owner = emulated.owner("myslug")          # practice + signed-in owner with MFA
        desk = emulated.staff(owner, "myslug", "front_desk", "desk@myslug.example")
        created = desk.post("/v1/my-things", json={...})
        assert created.status_code == 201
        emulated.run_schedule("MyScheduledFunction")   # a Schedule event, in-process
        assert emulated.sent_emails()                  # what SES (moto) accepted

`emulated.staff(owner, slug, role, email)` invites, accepts and signs in a member of staff
(enrolling MFA when the role needs it); `emulated.call`
and `emulated.client(token)` reach the API; `emulated.invoke(logical_id, event)` runs any
function's handler with Lambda's calling convention. New resources a feature adds to
template.yaml are made here from their definitions (see `_create_resources`). Tests using
the fixture live in tests/emulated/ (the `emulated` fixture is module-scoped: one stack per
test module, so keep a module's tests independent of each other's data).

Where moto differs from AWS (each also listed in docs/deploy.md "Emulated AWS"):
- Lambda runs code only in Docker under moto: handlers run in this process (as the
  gateway does for API Gateway), and every function shares one environment (the union of
  the template's variables) because one process holds one runtime.
- moto checks TOTP codes only with MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true, against
  one fixed 60-bit secret for every user (AWS makes a 160+ bit secret per user), and
  accepts a code from a time step already used (Cognito refuses it).
- moto's Step Functions runs Lambda tasks only in Docker: workflows run on tpm's local ASL
  runner (TPM_WORKFLOWS=local://) over the same AWS adapters.
- moto is not thread-safe (a failed transaction restores whole tables from a copy):
  `SerialMotoServer` answers one request at a time.
- moto enforces no IAM and no KMS key policy: least privilege is proven by
  tests/infrastructure (template) and checkov, not here.
- moto's pool ignores ContextData and threat protection, and runs no Lambda triggers.
- moto's SES v2 sends to unverified recipients in the sandbox and ignores the
  configuration set's suppression list.
- moto has no Chime SDK: test_telehealth_on_aws.py stubs the stack's own Chime adapter's
  client with botocore's Stubber (shapes checked against the service model).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import re
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import boto3
import httpx
import uvicorn
from botocore.response import StreamingBody
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.ses.models import ses_backends
from support.template_resources import create_table, create_user_pool, properties, template
from werkzeug.serving import make_server

from benchmarks.build_check import function_environment
from tpm.config import get_settings
from tpm.local.authorizer import verify_bearer
from tpm.local.functions import load_handler
from tpm.local.gateway import LocalGateway
from tpm.local.lambda_context import LocalLambdaContext
from tpm.local.server import create_asgi_app
from tpm.runtime import set_runtime

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
STACK = "tpm-emulated"
SENDER = "reminders@practice.example"
TIMEOUT = 30.0


@dataclass
class EmulatedStack:
    endpoint: str  # the moto server ("" in local mode)
    base: str  # the API and portal (local gateway)
    physical: dict[str, str]  # logical id (or Resource.Attribute) -> name / ARN
    gateway: LocalGateway
    mode: str = "aws"  # or "local": the same journey on tpm dev's adapters
    data_dir: Path | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    # ---- AWS clients (pointed at moto) --------------------------------------------------

    def aws(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, region_name=REGION, endpoint_url=self.endpoint
            )
        return self._clients[service]

    # ---- the API --------------------------------------------------------------------------

    def call(
        self, method: str, path: str, token: str | None = None, json_body: Any = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(
            method, f"{self.base}{path}", json=json_body, headers=headers, timeout=TIMEOUT
        )

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )

    # ---- Lambda, in-process -----------------------------------------------------------------

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """The function's handler with Lambda's calling convention, one event at a time."""
        tpl = self.gateway.template
        props = tpl["Resources"][logical_id]["Properties"]
        timeout = props.get("Timeout", tpl["Globals"]["Function"].get("Timeout", 3))
        context = LocalLambdaContext(function_name=logical_id, timeout_seconds=int(timeout))
        return self.gateway.locked_handler(logical_id)(event, context)

    def run_schedule(self, logical_id: str) -> Any:
        """What EventBridge sends a Schedule event's target."""
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": DEFAULT_ACCOUNT_ID,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": REGION,
            "resources": [],
            "detail": {},
        }
        return self.invoke(logical_id, event)

    # ---- people ---------------------------------------------------------------------------------

    def create_practice(self, slug: str, owner_email: str) -> str:
        """`tpm practice create --stack` exactly as docs/deploy.md runs it; returns the
        owner's invitation token."""
        from tpm.cli import main

        out = io.StringIO()
        where = (
            ["--stack", STACK, "--region", REGION]
            if self.mode == "aws"
            else ["--data-dir", str(self.data_dir)]
        )
        args = [
            "practice", "create", *where, "--slug", slug,
            "--name", f"{slug.title()} Counselling (synthetic)", "--timezone", CLINIC_ZONE,
            "--owner-email", owner_email, "--owner-name", "Olive Owner",
        ]  # fmt: skip
        with contextlib.redirect_stdout(out):
            code = main(args)
        assert code == 0, out.getvalue()
        found = re.search(r"^  (\S{40,})$", out.getvalue(), re.MULTILINE)
        assert found, out.getvalue()
        return found.group(1)

    def accept(self, slug: str, token: str, password: str) -> None:
        body = {"practice": slug, "token": token, "password": password}
        accepted = self.call("POST", "/v1/auth/accept-invitation", json_body=body)
        assert accepted.status_code == 200, accepted.text

    def sign_in(self, slug: str, email: str, password: str, secret: str | None = None) -> str:
        """Password, then the TOTP code when the account has MFA; the bearer token."""
        body = {"practice": slug, "email": email, "password": password}
        result = self.call("POST", "/v1/auth/login", json_body=body)
        assert result.status_code == 200, result.text
        tokens = result.json()
        if tokens.get("mfa_required"):
            assert secret is not None, "this account has MFA: pass its secret"
            code = totp(secret, _clear_of_step_edge() + self._code_lead)
            answer = {"practice": slug, "challenge": tokens["challenge"], "code": code}
            result = self.call("POST", "/v1/auth/mfa", json_body=answer)
            assert result.status_code == 200, result.text
            tokens = result.json()
        return str(tokens["access_token"])

    @property
    def _code_lead(self) -> float:
        """The local provider never takes a code from a step already used (nor does
        Cognito; moto does not check): right after enrolling, the next step's code, which
        its one-step drift window accepts."""
        return 30.0 if self.mode == "local" else 0.0

    def enrol_totp(self, token: str) -> str:
        """The signed-in user's authenticator, enrolled; returns its secret."""
        started = self.call("POST", "/v1/me/mfa/totp", token)
        assert started.status_code == 200, started.text
        secret = str(started.json()["secret"])
        code = totp(secret, _clear_of_step_edge())
        confirmed = self.call("POST", "/v1/me/mfa/totp/confirm", token, {"code": code})
        assert confirmed.status_code == 200, confirmed.text
        return secret

    def owner(self, slug: str = "owned") -> httpx.Client:
        """A practice and its owner, invitation accepted, MFA enrolled, signed in with it."""
        email = f"owner@{slug}.example"
        self.accept(slug, self.create_practice(slug, email), PASSWORD)
        secret = self.enrol_totp(self.sign_in(slug, email, PASSWORD))
        # Cognito refuses a code from a time step already used; moto does not check, so no
        # 30-second wait here (the local suite proves the rule).
        return self.client(self.sign_in(slug, email, PASSWORD, secret))

    def staff(self, owner: httpx.Client, slug: str, role: str, email: str) -> httpx.Client:
        """A member of staff invited by `owner`, invitation accepted, signed in (enrolling
        MFA first when the role requires it)."""
        invited = owner.post(
            "/v1/users", json={"email": email, "display_name": role.title(), "roles": [role]}
        )
        assert invited.status_code == 201, invited.text
        self.accept(slug, invited.json()["invitation_token"], PASSWORD)
        token = self.sign_in(slug, email, PASSWORD)
        me = self.call("GET", "/v1/users", token)
        if me.status_code == 403 and me.json()["error"]["code"] == "mfa_enrolment_required":
            secret = self.enrol_totp(token)
            token = self.sign_in(slug, email, PASSWORD, secret)
        return self.client(token)

    # ---- what left the stack ------------------------------------------------------------------

    def sent_emails(self) -> list[SentEmail]:
        """Email that left the stack: what SES (moto) accepted, or tpm dev's outbox."""
        if self.mode == "local":
            from tpm.runtime import get_runtime

            notifier: Any = get_runtime().notifier
            return [
                SentEmail([e.to], e.subject or "", e.text)
                for e in notifier.sent
                if e.channel == "email"
            ]
        return [
            SentEmail(list(m.destinations["ToAddresses"]), m.subject, m.body)
            for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        ]


@dataclass(frozen=True)
class SentEmail:
    to: list[str]
    subject: str
    body: str


PASSWORD = "Juniper-Harbour-Lantern-84"
CLINIC_ZONE = "America/Chicago"


def _clear_of_step_edge(margin: float = 3.0) -> float:
    """Now, after waiting out the last `margin` seconds of a 30-second step: moto checks a
    code against the current step only (no drift window), so a code made just before a
    step boundary and checked just after it would fail under a loaded machine."""
    left = 30.0 - time.time() % 30.0
    if left < margin:
        time.sleep(left + 0.05)
    return time.time()


class SerialMotoServer(ThreadedMotoServer):
    """moto, answering one request at a time. moto keeps its state in plain dicts and,
    when a transaction fails, restores whole tables from a copy taken before it: two
    requests at once can undo each other (a committed audit event vanishing from under its
    head, which the chain check rightly refuses as tampering). DynamoDB isolates
    transactions from strongly consistent reads; one request at a time is the closest moto
    comes. Connections are still served on threads, so a slow client blocks nobody."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serial(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, serial, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 by hand: pyotp refuses moto's 60-bit secret (it wants 112 bits or more)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = struct.pack(">Q", int(time.time() if at is None else at) // 30)
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _create_resources(endpoint: str) -> dict[str, str]:
    """The stack's data, key, identity and messaging resources, from their definitions."""

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    tpl = template()
    physical: dict[str, str] = {}
    # moto keeps every server's state in this process: unique names per stack.
    prefix = f"{STACK}-{uuid.uuid4().hex[:8]}"
    create_table(client("dynamodb"), f"{prefix}-table")
    physical["Table"] = f"{prefix}-table"
    key = client("kms").create_key(
        Description=f"{STACK} PHI (PhiKey)",
        KeySpec=properties("PhiKey", tpl)["KeySpec"],
        KeyUsage=properties("PhiKey", tpl)["KeyUsage"],
    )["KeyMetadata"]
    physical["PhiKey.Arn"] = key["Arn"]
    physical["OpsKey.Arn"] = client("kms").create_key(Description=f"{STACK} ops")["KeyMetadata"][
        "Arn"
    ]
    s3 = client("s3")
    for logical_id in ("DocumentsBucket", "AuditExportBucket"):
        name = f"{prefix}-{logical_id.lower()}"
        props = properties(logical_id, tpl)
        s3.create_bucket(
            Bucket=name, ObjectLockEnabledForBucket=bool(props.get("ObjectLockEnabled"))
        )
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key["Arn"],
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        physical[logical_id] = name
        physical[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
    pool = create_user_pool(client("cognito-idp"), f"{prefix}-users")
    physical["UserPool"] = pool.pool_id
    physical["UserPoolClient"] = pool.client_id
    ses = client("sesv2")
    with contextlib.suppress(ses.exceptions.AlreadyExistsException):
        ses.create_email_identity(EmailIdentity=SENDER)
    config_set = f"{prefix}-reminders"
    ses.create_configuration_set(ConfigurationSetName=config_set)
    physical["EmailConfigurationSet"] = config_set
    physical["ReminderFromAddress"] = SENDER
    queue = client("sqs").create_queue(QueueName=f"{prefix}-async-failures")["QueueUrl"]
    physical["AsyncFailuresQueue"] = queue
    return physical


def _environment(physical: dict[str, str], base: str, endpoint: str) -> dict[str, str]:
    """Every function's template environment, merged (one process, one runtime)."""
    tpl = template()
    names = {**physical, "PortalUrl": f"{base}/", "AWS::Region": REGION}
    env: dict[str, str] = {}
    for logical_id, resource in tpl["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            env.update(function_environment(tpl, logical_id, names))
    env.pop("POWERTOOLS_SERVICE_NAME", None)
    # moto's Step Functions runs Lambda tasks only in Docker: state machines run on tpm's
    # own ASL runner (the one `tpm dev` uses), over the same AWS adapters.
    env["TPM_WORKFLOWS"] = "local://"
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_SERVICE_NAME": "tpm-emulated",
        }
    )
    return env


def _answer_lambda_and_stack_outputs(stack: EmulatedStack) -> Callable[[], None]:
    """Lambda Invoke (moto would need Docker) and DescribeStacks (no CloudFormation stack
    is made) answered in-process for clients made from boto3's default session."""
    outputs = {
        "PracticeBootstrapFunctionName": "PracticeBootstrapFunction",
        "ApiUrl": f"{stack.base}/",
        "UserPoolId": stack.physical["UserPool"],
    }

    class _Http:
        status_code = 200
        headers: ClassVar[dict[str, str]] = {}

    def before_call(model: Any, params: dict[str, Any], **_: Any) -> Any:
        if model.service_model.service_name == "lambda" and model.name == "Invoke":
            body = params["body"]
            event = json.loads(body.decode() if isinstance(body, bytes) else body or "{}")
            function = params["url_path"].split("/functions/")[1].split("/")[0]
            result = json.dumps(stack.invoke(function, event)).encode()
            payload = StreamingBody(io.BytesIO(result), len(result))
            return _Http(), {"StatusCode": 200, "Payload": payload}
        if model.service_model.service_name == "cloudformation" and model.name == "DescribeStacks":
            stack_outputs = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
            return _Http(), {"Stacks": [{"StackName": STACK, "Outputs": stack_outputs}]}
        return None

    boto3.setup_default_session(region_name=REGION)
    session = boto3.DEFAULT_SESSION
    assert session is not None
    events = session.events
    events.register("before-call.lambda.Invoke", before_call, "emulated-lambda")
    events.register(
        "before-call.cloudformation.DescribeStacks", before_call, "emulated-cloudformation"
    )

    def undo() -> None:
        events.unregister("before-call.lambda.Invoke", before_call, "emulated-lambda")
        events.unregister(
            "before-call.cloudformation.DescribeStacks", before_call, "emulated-cloudformation"
        )
        boto3.DEFAULT_SESSION = None

    return undo


def start_emulated_stack(
    mode: str = "aws", data_dir: Path | None = None
) -> Iterator[EmulatedStack]:
    """Generator behind the fixture: moto server, resources, environment, gateway, server.
    mode "local" serves the same gateway on tpm dev's adapters (SQLite, key files, the
    local identity provider, the outbox) in `data_dir` instead, for the same journey."""
    saved = dict(os.environ)
    moto: ThreadedMotoServer | None = None
    server: uvicorn.Server | None = None
    undo: Callable[[], None] | None = None
    try:
        api_port = _free_port()
        base = f"http://127.0.0.1:{api_port}"
        endpoint = ""
        physical: dict[str, str] = {}
        if mode == "aws":
            moto = SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            moto.start()
            host, port = moto.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            os.environ.update(
                {
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
                }
            )
            os.environ.pop("AWS_SESSION_TOKEN", None)
            physical = _create_resources(endpoint)
            os.environ.update(_environment(physical, base, endpoint))
        else:
            from tpm.local.bootstrap import export_settings, local_settings, prepare_data_dir

            assert data_dir is not None
            prepare_data_dir(data_dir)
            export_settings(local_settings(data_dir, portal_url=f"{base}/"))
        get_settings.cache_clear()
        set_runtime(None)
        gateway = LocalGateway(ROOT, authorizer=verify_bearer)
        app = create_asgi_app(gateway, ROOT / "portal")
        config = uvicorn.Config(
            app, host="127.0.0.1", port=api_port, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the emulated API did not start")
            time.sleep(0.05)
        stack = EmulatedStack(endpoint, base, physical, gateway, mode, data_dir)
        if mode == "aws":
            undo = _answer_lambda_and_stack_outputs(stack)
        yield stack
    finally:
        if undo is not None:
            undo()
        if server is not None:
            server.should_exit = True
        if moto is not None:
            # moto's state lives in this process, not in its server: clear it for the next.
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{endpoint}/moto-api/reset", timeout=TIMEOUT)
            moto.stop()
        with contextlib.suppress(Exception):
            from tpm.runtime import get_runtime

            get_runtime().store.close()
        set_runtime(None)
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def handler_for(logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
    """A function's handler as `sam build` ships it (for tests that call one directly)."""
    from tpm.local.template import functions

    spec = next(f for f in functions(template()) if f.logical_id == logical_id)
    return load_handler(spec, ROOT)
