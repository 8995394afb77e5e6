"""Access API: signing in and out, staff users and API keys."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from omnicx.access import (
    ApiKey,
    SignedIn,
    StaffUser,
    create_api_key,
    create_user,
    get_user,
    log_in,
    log_out,
    reset_password,
    revoke_api_key,
    update_user,
)
from omnicx.api.deps import Caller, KeysManage, ServicesDep, UsersManage
from omnicx.api.errors import error_responses
from omnicx.api.schemas.access import (
    KeyCreate,
    KeyCreated,
    KeyPublic,
    KeysPublic,
    LoginPublic,
    LoginRequest,
    MePublic,
    PasswordReset,
    PasswordResetPublic,
    UserCreate,
    UserCreated,
    UserPublic,
    UsersPublic,
    UserUpdate,
)
from omnicx.api.security import client_address
from omnicx.bootstrap import Services
from omnicx.kernel import Invalid

router = APIRouter(prefix="/api", tags=["access"])

PUBLIC_ROUTES = frozenset({("POST", "/api/auth/login")})
"""Routes any caller may reach without credentials."""
ANY_CALLER_ROUTES = frozenset({("POST", "/api/auth/logout"), ("GET", "/api/auth/me")})
"""Routes every authenticated caller may reach, whatever its role."""


def user_public(user: StaffUser) -> UserPublic:
    return UserPublic(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        language=user.language,
        created_at=user.created_at,
        updated_at=user.updated_at,
        disabled=not user.active,
        disabled_at=user.disabled_at,
        last_login_at=user.last_login_at,
    )


def key_public(key: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=key.id,
        name=key.name,
        scope=key.role,
        prefix=key.prefix,
        created_at=key.created_at,
        created_by=key.created_by,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


# -- signing in ---------------------------------------------------------------------------


def sign_in(
    services: Services, request: Request, email: str, password: str, user_agent: str | None
) -> SignedIn:
    """Check a staff user's password, rate limited per client address and per email, and
    open a session; the API and the console sign in through here."""
    address = client_address(services, request.scope)
    services.throttle.hit("login_address", address)
    services.throttle.hit("login_email", email.strip().lower())
    with services.uow() as uow:
        signed_in = log_in(
            services.users(uow),
            services.sessions(uow),
            services.passwords,
            email=email,
            password=password,
            now=uow.clock.now(),
            lifetime=timedelta(hours=services.settings.session_hours),
            client_address=address,
            user_agent=user_agent,
        )
        uow.commit()
    return signed_in


@router.post(
    "/auth/login",
    response_model=LoginPublic,
    summary="Sign in a staff user; the token is shown only now",
    responses=error_responses(401, 429),
)
def login(
    body: LoginRequest,
    request: Request,
    services: ServicesDep,
    user_agent: Annotated[str | None, Header()] = None,
) -> LoginPublic:
    signed_in = sign_in(services, request, body.email, body.password, user_agent)
    return LoginPublic(
        token=signed_in.token,
        expires_at=signed_in.session.expires_at,
        user=user_public(signed_in.user),
    )


@router.post(
    "/auth/logout",
    status_code=204,
    summary="End the session whose token this request carries",
    responses=error_responses(400),
)
def logout(services: ServicesDep, caller: Caller) -> Response:
    if caller.session_id is None:
        raise Invalid(
            "not_a_session",
            "an API key does not sign out; revoke it with POST /api/keys/{key_id}/revoke",
            "authorization",
        )
    with services.uow() as uow:
        log_out(services.sessions(uow), caller.session_id, uow.clock.now())
        uow.commit()
    return Response(status_code=204)


@router.get("/auth/me", response_model=MePublic, summary="Who is calling, and what they may do")
def me(services: ServicesDep, caller: Caller) -> MePublic:
    user = None
    expires_at = None
    if caller.kind == "user":
        with services.uow(write=False) as uow:
            user = user_public(get_user(services.users(uow), caller.id))
            if caller.session_id is not None:
                session = services.sessions(uow).by_id(caller.session_id)
                expires_at = session.expires_at if session is not None else None
    return MePublic(
        kind=caller.kind,
        id=caller.id,
        name=caller.name,
        role=caller.role,
        permissions=sorted(caller.permissions),
        user=user,
        session_expires_at=expires_at,
    )


# -- staff users --------------------------------------------------------------------------


@router.post(
    "/users",
    response_model=UserCreated,
    status_code=201,
    summary="Create a staff user; a generated password is shown only now",
    responses=error_responses(409),
)
def add_user(body: UserCreate, services: ServicesDep, _: UsersManage) -> UserCreated:
    with services.uow() as uow:
        user, generated = create_user(
            services.users(uow),
            services.passwords,
            email=body.email,
            role=body.role,
            name=body.name,
            language=body.language,
            password=body.password,
            now=uow.clock.now(),
        )
        uow.commit()
    return UserCreated(**user_public(user).model_dump(), password=generated)


@router.get("/users", response_model=UsersPublic)
def list_users(services: ServicesDep, _: UsersManage) -> UsersPublic:
    with services.uow(write=False) as uow:
        return UsersPublic(items=[user_public(u) for u in services.users(uow).all()])


@router.get("/users/{user_id}", response_model=UserPublic)
def read_user(user_id: str, services: ServicesDep, _: UsersManage) -> UserPublic:
    with services.uow(write=False) as uow:
        return user_public(get_user(services.users(uow), user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserPublic,
    summary="Change a user's name, role, language, or disable them (ends their sessions)",
    responses=error_responses(409),
)
def change_user(
    user_id: str, body: UserUpdate, services: ServicesDep, _: UsersManage
) -> UserPublic:
    with services.uow() as uow:
        user = update_user(
            services.users(uow),
            services.sessions(uow),
            user_id,
            uow.clock.now(),
            name=body.name,
            role=body.role,
            language=body.language,
            disabled=body.disabled,
        )
        uow.commit()
    return user_public(user)


@router.post(
    "/users/{user_id}/password",
    response_model=PasswordResetPublic,
    summary="Set or generate a new password; ends the user's sessions",
)
def change_password(
    user_id: str, body: PasswordReset, services: ServicesDep, _: UsersManage
) -> PasswordResetPublic:
    with services.uow() as uow:
        generated = reset_password(
            services.users(uow),
            services.sessions(uow),
            services.passwords,
            user_id,
            uow.clock.now(),
            body.password,
        )
        uow.commit()
    return PasswordResetPublic(password=generated)


# -- API keys -----------------------------------------------------------------------------


@router.post(
    "/keys",
    response_model=KeyCreated,
    status_code=201,
    summary="Create an API key; the secret is shown only now",
)
def add_key(body: KeyCreate, services: ServicesDep, caller: KeysManage) -> KeyCreated:
    with services.uow() as uow:
        key, secret = create_api_key(
            services.api_keys(uow), body.name, body.scope, uow.clock.now(), caller.actor
        )
        uow.commit()
    return KeyCreated(**key_public(key).model_dump(), key=secret)


@router.get("/keys", response_model=KeysPublic, summary="API keys, newest first; never secrets")
def list_keys(services: ServicesDep, _: KeysManage) -> KeysPublic:
    with services.uow(write=False) as uow:
        return KeysPublic(items=[key_public(k) for k in services.api_keys(uow).all()])


@router.post(
    "/keys/{key_id}/revoke",
    response_model=KeyPublic,
    summary="Revoke an API key; it stops working at once",
    responses=error_responses(409),
)
def revoke_key(key_id: str, services: ServicesDep, _: KeysManage) -> KeyPublic:
    with services.uow() as uow:
        key = revoke_api_key(services.api_keys(uow), key_id, uow.clock.now())
        uow.commit()
    return key_public(key)
