"""Accounts on the emulated stack: what the API does to the Cognito pool (moto server),
seen from the pool's side. Also the example of using the `emulated` fixture."""

from __future__ import annotations

from emulated.stack import PASSWORD, EmulatedStack

SLUG = "accounts"


def test_roles_mfa_and_deactivation_reach_the_pool(emulated: EmulatedStack) -> None:
    owner = emulated.owner(SLUG)
    # A supervisor must use MFA: staff() enrols it on the way in.
    supervisor = emulated.staff(owner, SLUG, "supervisor", "sam@accounts.example")
    me = supervisor.get("/v1/me").json()
    assert supervisor.get("/v1/supervision/queue").status_code == 200  # MFA passed
    pool = emulated.aws("cognito-idp")
    pool_id = emulated.physical["UserPool"]

    def groups() -> list[str]:
        listed = pool.admin_list_groups_for_user(UserPoolId=pool_id, Username=me["id"])
        return sorted(g["GroupName"] for g in listed["Groups"])

    assert groups() == ["mfa", "supervisor"]
    described = pool.admin_get_user(UserPoolId=pool_id, Username=me["id"])
    assert described["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    # The owner adds the clinician role: the pool's groups follow.
    current = owner.get(f"/v1/users/{me['id']}").json()
    changed = owner.patch(
        f"/v1/users/{me['id']}/roles",
        json={"roles": ["clinician", "supervisor"], "version": current["version"]},
    )
    assert changed.status_code == 200, changed.text
    assert groups() == ["clinician", "mfa", "supervisor"]
    # Deactivation: the pool's user is disabled and the next request is refused at once.
    current = owner.get(f"/v1/users/{me['id']}").json()
    done = owner.post(f"/v1/users/{me['id']}/deactivate", json={"version": current["version"]})
    assert done.status_code == 200, done.text
    assert pool.admin_get_user(UserPoolId=pool_id, Username=me["id"])["Enabled"] is False
    assert supervisor.get("/v1/me").status_code == 401
    login = {"practice": SLUG, "email": "sam@accounts.example", "password": PASSWORD}
    assert emulated.call("POST", "/v1/auth/login", json_body=login).status_code == 401
