from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

StaffRole = Literal["admin", "agent", "store_associate", "marketer", "analyst"]
KeyScope = Literal["admin", "read_only"]
Language = Literal["en", "pt-BR", "es"]


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class UserPublic(BaseModel):
    id: str
    email: str
    name: str
    role: str
    language: str
    created_at: datetime
    updated_at: datetime
    disabled: bool
    disabled_at: datetime | None
    last_login_at: datetime | None


class UsersPublic(BaseModel):
    items: list[UserPublic]


class LoginPublic(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`; shown only now.")
    expires_at: datetime
    user: UserPublic


class MePublic(BaseModel):
    kind: Literal["api_key", "user"]
    id: str
    name: str
    role: str
    permissions: list[str]
    user: UserPublic | None = Field(description="The staff user, when signed in as one.")
    session_expires_at: datetime | None


class UserCreate(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    role: StaffRole
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Language = "en"
    password: str | None = Field(
        default=None,
        min_length=12,
        max_length=256,
        description="Leave out to have one generated and returned once.",
    )


class UserCreated(UserPublic):
    password: str | None = Field(description="The generated password, shown only now.")


class UserUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: StaffRole | None = None
    language: Language | None = None
    disabled: bool | None = Field(default=None, description="true ends the user's sessions.")


class PasswordReset(BaseModel):
    password: str | None = Field(
        default=None,
        min_length=12,
        max_length=256,
        description="Leave out to have one generated and returned once.",
    )


class PasswordResetPublic(BaseModel):
    password: str | None = Field(description="The generated password, shown only now.")


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope: KeyScope


class KeyPublic(BaseModel):
    id: str
    name: str
    scope: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret; shown only now.")


class KeysPublic(BaseModel):
    items: list[KeyPublic]
