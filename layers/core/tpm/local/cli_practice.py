"""`tpm practice create | export | import | verify-archive`.

create: a practice and its owner's invitation, locally or in AWS.

  tpm practice create --slug S --name N --timezone TZ --owner-email E --owner-name O
      [--data-dir .tpm]                 local data (as `tpm dev`), created if missing
      [--stack NAME [--region R]]       a deployed stack: invokes its PracticeBootstrapFunction
      [--function NAME [--region R]]    the same function named directly

Both run tpm.services.practice_bootstrap: idempotent, audited. In AWS the operator needs
only lambda:InvokeFunction on the stack's bootstrap function (and
cloudformation:DescribeStacks for --stack); the function's role does the encryption, so
the operator never holds the PHI key. The invitation token is printed once: hand it to
the owner, who sets a password with POST /v1/auth/accept-invitation.

export / import / verify-archive: the whole practice as one encrypted, verifiable archive
(tpm.services.practice_archive; docs/operations.md "Whole-practice export and restore").
They run where the data is reachable: `--data-dir` locally, or (TPM_ENV=aws) the deployed
store, keys, files and audit archive named by the TPM_* variables (docs/deploy.md). The
passphrase comes from --passphrase-file, TPM_ARCHIVE_PASSPHRASE or a prompt, never argv.
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

from tpm.local.cli_common import OPERATOR, CliError, Handler, add_data_dir

OUTPUT = "PracticeBootstrapFunctionName"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    practice = sub.add_parser("practice", help="practices: create one with its owner")
    cmds = practice.add_subparsers(dest="practice_command", required=True)
    create = cmds.add_parser("create", help="create a practice and invite its owner (idempotent)")
    add_data_dir(create)
    create.add_argument("--slug", required=True, help="sign-in name, e.g. riverside")
    create.add_argument("--name", required=True, help="the practice's name")
    create.add_argument("--timezone", required=True, help="IANA zone, e.g. America/Chicago")
    create.add_argument("--owner-email", required=True)
    create.add_argument("--owner-name", required=True)
    target = create.add_mutually_exclusive_group()
    target.add_argument("--stack", help="a deployed stack: use its bootstrap function")
    target.add_argument("--function", help="the bootstrap function's name")
    create.add_argument("--region", help="the stack's region (default: your AWS config)")
    handler: Handler = _create
    create.set_defaults(handler=handler)
    from tpm.local import cli_practice_archive

    cli_practice_archive.register(cmds)


def _create(args: argparse.Namespace) -> int:
    request = {
        "slug": args.slug,
        "name": args.name,
        "timezone": args.timezone,
        "owner_email": args.owner_email,
        "owner_name": args.owner_name,
    }
    if args.stack or args.function:
        api_url, result = _invoke_in_aws(args, request)
    else:
        api_url, result = "http://127.0.0.1:8000/", _run_locally(args.data_dir, request)
    _print(result, api_url)
    return 0


def _run_locally(data_dir: Path, request: dict[str, str]) -> dict[str, Any]:
    from tpm.clock import to_rfc3339
    from tpm.config import get_settings
    from tpm.local.bootstrap import local_settings, prepare_data_dir
    from tpm.runtime import build_runtime
    from tpm.services.practice_bootstrap import bootstrap_practice

    settings = get_settings()
    if settings.environment == "local":
        # The data dir's settings for this command only (nothing exported: a server in the
        # same process keeps its own).
        prepare_data_dir(data_dir)
        settings = local_settings(data_dir, portal_url=settings.portal_url)
    runtime = build_runtime(settings)
    try:
        result = bootstrap_practice(
            runtime, **request, actor=OPERATOR, request_id=f"cli-{uuid.uuid4().hex}"
        )
    finally:
        runtime.store.close()
    expires = result.invitation_expires_at
    return {
        "practice_id": result.practice_id,
        "slug": result.slug,
        "practice_created": result.practice_created,
        "owner_user_id": result.owner_user_id,
        "owner_status": result.owner_status,
        "invitation_token": result.invitation_token,
        "invitation_expires_at": to_rfc3339(expires) if expires else None,
    }


def _invoke_in_aws(args: argparse.Namespace, request: dict[str, str]) -> tuple[str, dict[str, Any]]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        api_url = "<ApiUrl output>/"
        function = args.function
        if args.stack:
            outputs = _stack_outputs(
                boto3.client("cloudformation", region_name=args.region), args.stack
            )
            if OUTPUT not in outputs:
                raise CliError(
                    f"stack {args.stack!r} has no {OUTPUT} output (deploy the latest template)"
                )
            function = outputs[OUTPUT]
            api_url = outputs.get("ApiUrl", api_url)
        response = boto3.client("lambda", region_name=args.region).invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(request).encode(),
        )
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"AWS refused the call: {type(exc).__name__}") from exc
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise CliError(
            "the bootstrap function failed; see /tpm/<stack>/functions/practice-bootstrap"
        )
    if "error" in payload:
        error = payload["error"]
        raise CliError(f"{error.get('code', 'error')}: {error.get('message', '')}")
    return api_url, dict(payload)


def _stack_outputs(client: Any, stack: str) -> dict[str, str]:
    stacks = client.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _print(result: dict[str, Any], api_url: str) -> None:
    state = "created" if result["practice_created"] else "already existed"
    print(f"practice {result['slug']!r} ({result['practice_id']}) {state}")
    token = result.get("invitation_token")
    if not token:
        print(f"owner {result['owner_user_id']} is {result['owner_status']}: no invitation needed")
        return
    print(f"owner {result['owner_user_id']} invited; invitation token (shown once, valid until")
    print(f"{result['invitation_expires_at']}; hand it to the owner securely):")
    print(f"  {token}")
    print("the owner sets a password with:")
    body = json.dumps({"practice": result["slug"], "token": token, "password": "<a passphrase>"})
    print(
        f"  curl -sX POST {api_url}v1/auth/accept-invitation -H 'content-type: application/json' \\"
    )
    print(f"    -d '{body}'")
