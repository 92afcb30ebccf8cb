"""Why a call failed, in words a model acts on: `explain` for every `AtlasError`, and the
account's balance for a refusal about it. The server's tool errors quote these texts."""

from __future__ import annotations

import anyio

from atlas_mcp_py.atlas import AtlasClient, trim
from atlas_mcp_py.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AtlasError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    InsufficientBalanceError,
    ModelUnavailableError,
    NotFoundError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    UploadSourceError,
    WrongBaseURLError,
)

__all__ = ["BALANCE_WAIT_SECONDS", "balance_text", "explain"]

BALANCE_WAIT_SECONDS = 5.0
"""How long a refusal or a question waits for the balance before going without it."""


def explain(
    exc: AtlasError, *, base_url: str = "", sent: str = "", balance: str | None = None
) -> str:
    """A message for the model: what happened and what to do next, with Atlas's request
    id when there is one (support asks for it). Never carries the key. `balance` is the
    account's available balance, when it could be read."""
    text = _explain(exc, base_url, sent, balance)
    request_id = getattr(exc, "request_id", None)
    if request_id and isinstance(exc, APIStatusError):  # OutcomeUnknownError's str has it
        text += f" (Atlas request id: {request_id})"
    return text


def _explain(exc: AtlasError, base_url: str, sent: str, balance: str | None) -> str:
    """The text for each kind of AtlasError (over 60 lines: one branch per kind, side by side)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, WrongBaseURLError):
        return (
            f"Atlas answered 401 on a path that needs no key or cannot be wrong with a good "
            f"one: ATLASCLOUD_BASE_URL ({base_url or 'as set'}) is probably wrong. Set it to "
            "the API root, https://api.atlascloud.ai (without /api/v1), or unset it, then "
            "restart the server. Nothing was billed."
        )
    if isinstance(exc, ModelUnavailableError):
        return (
            f"Atlas answered 404 to the generate request: the model is not available to this "
            f"account ({trim(exc.message, 200)}). Check the id with atlas_list_models, or the "
            "model's access in the Atlas console. Nothing was billed."
        )
    if isinstance(exc, AuthenticationError):
        return (
            f"Atlas refused the API key ({exc.status}: {trim(exc.message, 200)}). Check that "
            "ATLASCLOUD_API_KEY holds a valid key with access to this model, then restart the "
            "server. Nothing was billed."
        )
    if isinstance(exc, InsufficientBalanceError):
        has = f" (available: {balance})" if balance else ""
        return (
            f"Atlas says the account balance is too low (402){has}. Top up at "
            "https://www.atlascloud.ai (billing), then try again. Nothing was generated."
        )
    if isinstance(exc, BadRequestError):
        return (
            f"Atlas rejected the request ({exc.status}): {trim(exc.message, 300)}. Fix the "
            "argument it names (atlas_list_models shows models) and call again; nothing was billed."
        )
    if isinstance(exc, NotFoundError):
        return (
            f"Atlas does not know that id (404: {trim(exc.message, 200)}). Check the id: "
            "atlas_list_jobs lists the jobs started here with their prediction_id, and a "
            "generate call's answer names its own."
        )
    if isinstance(exc, PayloadTooLargeError):
        return (
            "Atlas refused the upload as too large (413; its limit is 50 MB). Use a smaller file."
        )
    if isinstance(exc, RateLimitError):
        wait = f" in {exc.retry_after:.0f} s" if exc.retry_after is not None else " shortly"
        return f"Atlas is rate-limiting requests (429). {sent}Try again{wait}."
    if isinstance(exc, ServerError):
        fault = f"Atlas had a server fault ({exc.status}: {trim(exc.message, 200)})."
        return f"{fault} {sent}Try again later."
    if isinstance(exc, APIStatusError):
        return f"Atlas answered {exc.status}: {trim(exc.message, 300)}."
    if isinstance(exc, OutcomeUnknownError) and not exc.billed:
        again = " and calling again is safe" if exc.retry_safe else ""
        return (
            f"{trim(str(exc), 300)}. This was an upload: uploads are free and create no "
            f"job, so nothing was billed{again}."
        )
    if isinstance(exc, OutcomeUnknownError):
        return (
            f"{trim(str(exc), 300)}. The request may have reached Atlas and may be billed, "
            "so it was NOT resent. Do not simply call again: the job may already exist."
        )
    if isinstance(exc, APIConnectionError):
        cause = str(exc)
        if "SSL_CERT_FILE" in cause:  # the cause carries its fix
            fix = ""
        elif "name resolution failed" in cause:
            fix = " Check the host in ATLASCLOUD_BASE_URL and this machine's DNS or proxy."
        elif "connection refused" in cause:
            fix = " Check the port in ATLASCLOUD_BASE_URL and that the service is running."
        else:
            fix = " Check the network (behind a proxy, set HTTPS_PROXY)."
        return f"Could not reach Atlas at {base_url}: {trim(cause, 400)}. Nothing was sent.{fix}"
    if isinstance(exc, UploadSourceError):
        return (
            f"{trim(str(exc), 300)}. Atlas stored nothing usable; upload again once the file "
            "is complete and no longer being written."
        )
    if isinstance(exc, APIResponseError):
        return f"Atlas sent an answer that could not be understood: {trim(str(exc), 300)}."
    return trim(str(exc), 300)


async def balance_text(client: AtlasClient) -> str | None:
    """The account's available balance ("$12.50"), or None when it cannot be read soon."""
    with anyio.move_on_after(BALANCE_WAIT_SECONDS):
        try:
            return (await client.balance()).text()
        except AtlasError:
            return None
    return None
