"""AWS resources made from template.yaml's own definitions, against moto (in-process
`mock_aws` or the emulated tier's moto server).

Each function reads the resource's Properties from the template, resolves intrinsic
functions the way a stack made from the template's defaults would (`resolve` in
benchmarks.build_check) and makes the API call CloudFormation would make. So a change to
the deployed pool, client, table or buckets is a change to what the tests run against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.build_check import resolve
from tpm.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def properties(logical_id: str, tpl: dict[str, Any] | None = None) -> dict[str, Any]:
    tpl = tpl or template()
    props: dict[str, Any] = tpl["Resources"][logical_id].get("Properties", {})
    return props


def _plain(value: Any, tpl: dict[str, Any]) -> Any:
    """Properties with every intrinsic function resolved; `AWS::NoValue` drops the key."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If"):
            if value.get("Ref") == "AWS::NoValue":
                return _NO_VALUE
            resolved = resolve(value, tpl)
            return _plain(resolved, tpl) if isinstance(resolved, dict) else resolved
        out = {}
        for key, item in value.items():
            plain = _plain(item, tpl)
            if plain is not _NO_VALUE:
                out[key] = plain
        return out
    if isinstance(value, list):
        return [p for p in (_plain(v, tpl) for v in value) if p is not _NO_VALUE]
    return value


_NO_VALUE = object()


@dataclass(frozen=True)
class UserPool:
    pool_id: str
    client_id: str
    groups: tuple[str, ...]


def create_user_pool(client: Any, name: str = "tpm-users") -> UserPool:
    """UserPool, UserPoolClient and every UserPoolGroup of the template."""
    tpl = template()
    props = _plain(properties("UserPool", tpl), tpl)
    # Moto (and CloudFormation) take these in separate calls or not at all.
    enabled_mfas = props.pop("EnabledMfas", [])
    for key in ("UserPoolName", "UserPoolAddOns", "DeletionProtection", "UserPoolTier"):
        props.pop(key, None)
    pool_id = client.create_user_pool(PoolName=name, **props)["UserPool"]["Id"]
    if "SOFTWARE_TOKEN_MFA" in enabled_mfas:
        client.set_user_pool_mfa_config(
            UserPoolId=pool_id,
            SoftwareTokenMfaConfiguration={"Enabled": True},
            MfaConfiguration=props.get("MfaConfiguration", "OFF"),
        )
    client_props = _plain(properties("UserPoolClient", tpl), tpl)
    client_props.pop("UserPoolId", None)
    client_props["ClientName"] = f"{name}-api"
    client_id = client.create_user_pool_client(UserPoolId=pool_id, **client_props)[
        "UserPoolClient"
    ]["ClientId"]
    groups = []
    for resource in tpl["Resources"].values():
        if resource["Type"] == "AWS::Cognito::UserPoolGroup":
            group = str(resource["Properties"]["GroupName"])
            client.create_group(UserPoolId=pool_id, GroupName=group)
            groups.append(group)
    return UserPool(pool_id, client_id, tuple(groups))


def create_table(client: Any, name: str) -> None:
    props = properties("Table")
    client.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        BillingMode=props["BillingMode"],
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
