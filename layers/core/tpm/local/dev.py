"""`tpm dev`: the whole product on one laptop."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from tpm.adapters.workflows.local import LocalWorkflows
from tpm.config import get_settings
from tpm.local.authorizer import verify_bearer
from tpm.local.bootstrap import (
    DEMO_NAME,
    DEMO_SLUG,
    ensure_demo_practice,
    export_settings,
    local_settings,
    prepare_data_dir,
)
from tpm.local.demo import credentials_table
from tpm.local.gateway import LocalGateway
from tpm.local.scheduler import LocalScheduler
from tpm.local.server import create_asgi_app
from tpm.local.startup import StartupRefused, check_data_dir, check_keys
from tpm.local.workflow_runner import template_runner
from tpm.runtime import build_runtime, set_runtime


def run_dev(
    *,
    host: str,
    port: int,
    data_dir: Path,
    root: Path,
    new_keys: bool = False,
    sign_in_attempts_per_address: int = 50,
) -> int:
    try:
        check_data_dir(data_dir, new_keys=new_keys)
    except StartupRefused as refused:
        print(f"tpm dev: {refused}", file=sys.stderr)
        return 2
    prepare_data_dir(data_dir)
    settings = local_settings(
        data_dir,
        portal_url=f"http://{host}:{port}/",
        sign_in_attempts_per_address=sign_in_attempts_per_address,
    )
    export_settings(settings)
    get_settings.cache_clear()
    runtime = build_runtime(settings)
    try:
        check_keys(runtime)
    except StartupRefused as refused:
        runtime.store.close()
        print(f"tpm dev: {refused}", file=sys.stderr)
        return 2
    set_runtime(runtime)
    demo = ensure_demo_practice(runtime)

    gateway = LocalGateway(root, authorizer=verify_bearer)
    gateway.load_all()
    schedules = [s for spec in gateway.functions.values() for s in spec.schedules]
    scheduler = LocalScheduler(schedules, gateway.locked_handler)
    # Step Functions, locally: every due execution resumes from its last committed
    # transition, so a restart loses nothing (tpm.local.workflow_runner).
    runner = None
    if isinstance(runtime.workflows, LocalWorkflows):
        runner = template_runner(runtime.workflows, runtime.store, gateway.locked_handler)
    app = create_asgi_app(gateway, root / "portal")

    print(_banner(host, port, settings.data_dir, demo.created, len(gateway.routes), schedules))
    scheduler.start()
    if runner is not None:
        runner.start(tick_seconds=0.5)
    try:
        # No proxy headers: nothing sits in front of `tpm dev`, so X-Forwarded-For from
        # loopback must not choose the client address (the sign-in throttle counts it).
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )
    finally:
        if runner is not None:
            runner.stop()
        scheduler.stop()
        runtime.store.close()
        print("tpm dev stopped; data kept in", settings.data_dir)
    return 0


def _banner(
    host: str, port: int, data_dir: Path, created: bool, routes: int, schedules: Sequence[object]
) -> str:
    first = "created" if created else "reused"
    return "\n".join(
        [
            "",
            f"  tpm dev — {DEMO_NAME} ({first}; everything in it is synthetic)",
            f"  portal   http://{host}:{port}/",
            f"  staff    http://{host}:{port}/staff/   (the staff web app)",
            f"  API      http://{host}:{port}/v1/health   (OpenAPI: /v1/openapi.json)",
            f"  data     {data_dir}  (SQLite + local keys, mode 0600)",
            f"  routes   {routes} from template.yaml; {len(schedules)} schedule(s)",
            f'  sign in  practice "{DEMO_SLUG}" — POST /v1/auth/login with one of:',
            credentials_table(),
            "           (owner, admin, supervisor, biller and compliance enrol MFA first:",
            "            POST /v1/me/mfa/totp, then /v1/me/mfa/totp/confirm)",
            "  stop     Ctrl-C",
            "",
        ]
    )
