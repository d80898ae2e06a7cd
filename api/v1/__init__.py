"""The JSON API under /api/v1: one parent blueprint (JSON-only bodies, the route table's authorization before
anything else) with a child per resource, each operation described and validated by ``api.v1.spec``."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask
from pydantic import BaseModel, Field

from api.authz import authorize_route
from api.v1 import (
    attachments,
    audit,
    calendar,
    definitions,
    initiatives,
    instances,
    national_dossier,
    notifications,
    openapi,
    org,
    reports,
    session,
    tasks,
)
from api.v1.spec import ErrorBody, api, responses

MODULES = (
    session,
    tasks,
    instances,
    national_dossier,
    reports,
    audit,
    org,
    calendar,
    notifications,
    initiatives,
    openapi,
)


class LoginIn(BaseModel):
    user: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    user: str
    full_name: str


class Membership(BaseModel):
    role: str
    role_name: str | None
    unit: str
    unit_name: str | None


class ActingRole(BaseModel):
    role: str
    unit: str


class Can(BaseModel):
    start_instances: bool
    see_reports: bool
    see_all_instances: bool
    read_all_audit: bool


class MeOut(BaseModel):
    user: str
    full_name: str
    capabilities: list[str]
    memberships: list[Membership]
    acting_roles: list[ActingRole]
    can: Can


class TokenIn(BaseModel):
    user: str | None = Field(None, min_length=1, max_length=64)
    name: str | None = Field(None, max_length=255)
    scopes: list[str] | None = Field(None, max_length=20)
    days: int | None = Field(None, ge=1, le=3660)


class TokenOut(BaseModel):
    id: int
    prefix: str
    user: str
    name: str | None
    scopes: list[str]
    created_at: str | None
    created_by: str | None
    expires_at: str | None
    revoked_at: str | None
    revoked_by: str | None


class NewToken(TokenOut):
    token: str


class TokenList(BaseModel):
    tokens: list[TokenOut]


class TokenQuery(BaseModel):
    user: str | None = Field(None, max_length=64)


# The session views (api/v1/session.py) are plain Flask views; they are described and validated here.
SESSION_OPERATIONS = {
    "api_v1.session.create": api.validate(
        json=LoginIn, resp=responses(HTTP_200=LoginOut, HTTP_429=ErrorBody), tags=("session",)
    ),
    "api_v1.session.delete": api.validate(resp=responses(HTTP_204=None), tags=("session",)),
    "api_v1.session.me": api.validate(resp=responses(HTTP_200=MeOut), tags=("session",)),
    "api_v1.session.create_api_token": api.validate(
        json=TokenIn, resp=responses(HTTP_201=NewToken, HTTP_429=ErrorBody), tags=("session",)
    ),
    "api_v1.session.list_api_tokens": api.validate(
        query=TokenQuery, resp=responses(HTTP_200=TokenList), tags=("session",)
    ),
    "api_v1.session.revoke_api_token": api.validate(resp=responses(HTTP_204=None), tags=("session",)),
}


def register(app: Flask, require_json: Callable[[], None]) -> None:
    parent = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    parent.before_request(require_json)
    parent.before_request(authorize_route)
    parent.before_request(attachments.check_completion)  # a completion's attachments must be usable
    for module in MODULES:
        parent.register_blueprint(module.bp)
    app.register_blueprint(parent)
    definitions.register(app)  # beside the parent: it takes multipart bodies too (its own before-request checks)
    attachments.register(app)  # beside the parent too: uploads are multipart
    for endpoint, describe in SESSION_OPERATIONS.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            continue
        if getattr(view, "_tdkt_described", False):
            continue
        wrapped = describe(view)
        wrapped._tdkt_described = True  # type: ignore[attr-defined]
        app.view_functions[endpoint] = wrapped
