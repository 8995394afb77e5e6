"""The one error shape every route answers with: `{"error": {"code", "message", ...}}`."""

from pydantic import BaseModel, ConfigDict, Field


class ErrorItem(BaseModel):
    model_config = ConfigDict(title="ErrorItem")

    message: str
    field: str | None = Field(default=None, description="The field at fault, dotted.")
    index: int | None = Field(
        default=None, description="The call's position in a tracking batch; null for one call."
    )


class ErrorDetail(BaseModel):
    model_config = ConfigDict(title="ErrorDetail")

    code: str = Field(description="Stable, machine-readable, snake_case.", examples=["not_found"])
    message: str = Field(description="What is wrong, for a person to read.")
    field: str | None = Field(default=None, description="The input at fault, when one is.")
    items: list[ErrorItem] | None = Field(
        default=None, description="Every problem found, when there are several."
    )
    request_id: str | None = Field(
        default=None, description="Quote it when reporting an `internal_error`."
    )


class Error(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(title="Error")

    error: ErrorDetail
