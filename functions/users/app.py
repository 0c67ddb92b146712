"""Users: invite, approve, list, change roles, deactivate, supervision, sessions."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field, Strict

from tpm.api.app import create_app, lambda_entry
from tpm.api.context import Cursor, Limit, service_context
from tpm.api.idempotency import idempotent
from tpm.api.models import EmailAddress, RequestModel
from tpm.api.responses import NO_CONTENT_DOC, created, created_doc, no_content
from tpm.api.views import Page, SessionView, UserView
from tpm.security.principal import Role
from tpm.services.users import UserService

app = create_app("users")
TAGS = ["users"]
# An enum by its value (strict models take enums only as members otherwise); the service
# checks further (no patient role here).
StaffRole = Annotated[Role, Strict(False)]
UsState = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class InviteIn(RequestModel):
    # Fields a caller may not set (id, practice, status, owner...) are rejected, not ignored.
    email: EmailAddress
    display_name: str = Field(min_length=1, max_length=120)
    roles: list[StaffRole] = Field(min_length=1, max_length=7)
    credentials: str = Field(default="", max_length=60)


class InvitationOut(BaseModel):
    user: UserView
    invitation_token: str | None = Field(
        description="Give this to the person (in AWS it is emailed); null while approval waits."
    )


class RolesIn(RequestModel):
    roles: list[StaffRole] = Field(min_length=1, max_length=7)
    version: int = Field(ge=1)


class LicenceStatesIn(RequestModel):
    states: list[UsState] = Field(max_length=60)
    version: int = Field(ge=1)


class UserVersionIn(RequestModel):
    version: int = Field(ge=1)


class SupervisorIn(RequestModel):
    supervisor_id: str = Field(pattern=r"^usr_[0-9a-z]{26}$")


@app.post(
    "/v1/users",
    summary="Invite a staff member",
    tags=TAGS,
    responses=created_doc(InvitationOut),
    middlewares=[idempotent],
)
def invite(body: InviteIn) -> Response[str]:
    result = UserService(service_context(app)).invite(
        body.email, body.display_name, frozenset(body.roles), body.credentials
    )
    out = InvitationOut(user=UserView.of(result.user), invitation_token=result.token)
    return created(out, f"/v1/users/{result.user.id}")


@app.get("/v1/users", summary="List users", tags=TAGS)
def list_users(limit: Limit = 25, cursor: Cursor = None) -> Page[UserView]:
    users, next_cursor = UserService(service_context(app)).list_users(limit, cursor)
    return Page[UserView](items=[UserView.of(u) for u in users], next_cursor=next_cursor)


@app.get("/v1/users/<userId>", summary="Get a user", tags=TAGS)
def get_user(userId: str) -> UserView:  # noqa: N803 - path parameter
    return UserView.of(UserService(service_context(app)).get(userId))


@app.post("/v1/users/<userId>/approve", summary="Approve an invitation (a second admin)", tags=TAGS)
def approve(userId: str) -> InvitationOut:  # noqa: N803
    result = UserService(service_context(app)).approve(userId)
    return InvitationOut(user=UserView.of(result.user), invitation_token=result.token)


@app.put(
    "/v1/users/<userId>/licence-states",
    summary="Set the US states a clinician is licensed in (telehealth licence check)",
    tags=TAGS,
)
def set_licence_states(userId: str, body: LicenceStatesIn) -> UserView:  # noqa: N803
    service = UserService(service_context(app))
    return UserView.of(service.set_licence_states(userId, tuple(body.states), body.version))


@app.patch("/v1/users/<userId>/roles", summary="Change a user's roles", tags=TAGS)
def set_roles(userId: str, body: RolesIn) -> UserView:  # noqa: N803
    return UserView.of(
        UserService(service_context(app)).set_roles(userId, frozenset(body.roles), body.version)
    )


@app.post("/v1/users/<userId>/deactivate", summary="Deactivate a user (immediate)", tags=TAGS)
def deactivate(userId: str, body: UserVersionIn) -> UserView:  # noqa: N803
    return UserView.of(UserService(service_context(app)).deactivate(userId, body.version))


@app.post(
    "/v1/users/<userId>/reactivate",
    summary="Reactivate a deactivated user (409 if not deactivated)",
    tags=TAGS,
)
def reactivate(userId: str, body: UserVersionIn) -> UserView:  # noqa: N803
    return UserView.of(UserService(service_context(app)).reactivate(userId, body.version))


@app.post(
    "/v1/users/<userId>/supervisors",
    summary="Assign a supervisor",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def add_supervisor(userId: str, body: SupervisorIn) -> Response[str]:  # noqa: N803
    UserService(service_context(app)).set_supervisor(userId, body.supervisor_id)
    return no_content()


class SupervisorView(BaseModel):
    id: str
    display_name: str
    credentials: str
    status: str


@app.get("/v1/users/<userId>/supervisors", summary="A staff member's supervisors", tags=TAGS)
def list_supervisors(userId: str) -> Page[SupervisorView]:  # noqa: N803
    found = UserService(service_context(app)).supervisors(userId)
    return Page[SupervisorView](
        items=[
            SupervisorView(
                id=u.id,
                display_name=u.display_name,
                credentials=u.credentials,
                status=u.status.value,
            )
            for u in found
        ]
    )


@app.get("/v1/users/<userId>/sessions", summary="A user's sessions", tags=TAGS)
def user_sessions(userId: str) -> Page[SessionView]:  # noqa: N803
    ctx = service_context(app)
    sessions = UserService(ctx).sessions_of(userId)
    return Page[SessionView](items=[SessionView.of(s, ctx.now()) for s in sessions])


@app.post(
    "/v1/users/<userId>/sessions/<sessionId>/revoke",
    summary="End a user's session",
    tags=TAGS,
    responses=NO_CONTENT_DOC,
)
def revoke(userId: str, sessionId: str) -> Response[str]:  # noqa: N803
    UserService(service_context(app)).revoke_session(userId, sessionId)
    return no_content()


lambda_handler = lambda_entry(app, "users")
