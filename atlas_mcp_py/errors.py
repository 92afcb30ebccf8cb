"""The exception tree of atlas-mcp-py: every error the package raises on purpose.

```
AtlasMCPError                      every error this package raises on purpose
├── AtlasError                     talking to Atlas, or a setting it needs
│   ├── ConfigError                missing/bad settings
│   ├── APIConnectionError         never reached the server (safe to retry anything)
│   │   └── APITimeoutError
│   ├── OutcomeUnknownError        a billed POST may have reached the server; no answer came back
│   ├── UploadSourceError          the local file changed size while it was being uploaded
│   ├── APIResponseError           2xx body we could not understand
│   └── APIStatusError(status, message, request_id)
│       ├── AuthenticationError 401/403
│       │   └── WrongBaseURLError  a 401 that only a wrong ATLASCLOUD_BASE_URL explains
│       ├── InsufficientBalanceError 402
│       ├── BadRequestError 400/422
│       ├── NotFoundError 404
│       │   └── ModelUnavailableError  404 on generate: the account cannot use the model
│       ├── PayloadTooLargeError 413
│       ├── RateLimitError 429 (.retry_after)
│       └── ServerError 5xx
├── Refused                        the call cannot go ahead as asked; nothing sent
├── ArgumentError (+ValueError)    the model's schema rejects the arguments
├── ArgumentLimit (+ValueError)    a tool argument over any size a real call has
├── FileRefused                    a path the server will not read or write
├── MediaMismatch (+ValueError)    a file's bytes are not what its name says
├── InlineDataError (+ValueError)  a data: output that cannot be decoded
├── DownloadFailed                 a result URL could not be saved
├── SchemaUnreadable (+ValueError) a model's OpenAPI input schema cannot be read
├── LedgerError                    the SQLite job ledger cannot be used
├── LostSubmission                 a generate POST's answer lost, and history does not show it
├── JobNotCreated                  a generate request refused or never sent (`.error` says why)
├── Retryable                      internal: this attempt may be retried; never escapes AtlasClient
└── DemoError                      the demo cannot run as asked
```

The non-API errors are not under `AtlasError` on purpose: `except AtlasError` means "Atlas
said no / could not be reached" (and is explained with Atlas's message); the others carry
their own message, which says what to do. Those that were `ValueError`s stay ones too.

A failed prediction is data (`status: failed`), not an exception. Messages never carry
the API key: they are built from status codes and the server's own message only, with
the key blanked out of the latter. They carry Atlas's request id (`X-Request-ID`), which
Atlas support asks for.

Two questions every `AtlasError` answers apart, as attributes: `billed` (may a paid job
exist because of the failed request?) and `retry_safe` (can calling again pay twice?). A
lost answer to a generate POST is billed and not safe to retry; a lost answer to an upload
is neither billed nor unsafe: uploads are free and create no job.
"""

from __future__ import annotations

__all__ = [
    "MAX_LISTED",
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "ArgumentError",
    "ArgumentLimit",
    "AtlasError",
    "AtlasMCPError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigError",
    "DemoError",
    "DownloadFailed",
    "FileRefused",
    "InlineDataError",
    "InsufficientBalanceError",
    "JobNotCreated",
    "LedgerError",
    "LostSubmission",
    "MediaMismatch",
    "ModelUnavailableError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PayloadTooLargeError",
    "RateLimitError",
    "Refused",
    "Retryable",
    "SchemaUnreadable",
    "ServerError",
    "UploadSourceError",
    "WrongBaseURLError",
    "is_broken_pipe",
    "status_error",
]


class AtlasMCPError(Exception):
    """Root of every error this package raises on purpose (the tree is in the module docstring)."""


class AtlasError(AtlasMCPError):
    """Talking to Atlas went wrong, or a setting it needs is missing (the API errors' base)."""

    billed: bool = False
    """A paid job may exist because of the request that failed."""
    retry_safe: bool = True
    """Calling again cannot pay twice (whether it can succeed is another matter)."""


class ConfigError(AtlasError):
    """A setting is missing or invalid (for example no API key when a call needs one)."""


class APIConnectionError(AtlasError):
    """The request provably never reached Atlas (refused, DNS failure): safe to retry."""


class APITimeoutError(APIConnectionError):
    """Atlas did not answer in time.

    Raised for billed POSTs only when nothing was sent (connect or pool timeout); a billed
    POST that timed out after sending raises `OutcomeUnknownError` instead. For GETs,
    which are safe to repeat, it also covers read timeouts once the retries are spent.
    """


class OutcomeUnknownError(AtlasError):
    """A request that may have reached Atlas got no usable answer.

    For a generate POST (`billed=True`) this means a job may exist and may be billed: it
    must not be resubmitted blindly; look it up in the history instead. For an upload
    (`billed=False`) nothing is billed either way and calling again is safe.
    """

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        billed: bool = True,
        prediction_id: str | None = None,
    ) -> None:
        super().__init__(message + _id_text(request_id))
        self.request_id = request_id
        self.billed = billed
        self.retry_safe = not billed
        self.prediction_id = prediction_id
        """A job id read from the unusable answer's raw bytes, when it held one: a hint
        to check first, not a confirmed job."""


class UploadSourceError(AtlasError):
    """The file being uploaded yielded fewer or more bytes than announced.

    It was truncated or appended to during the upload; Atlas got an incomplete request
    and stored nothing. Retrying only helps once the file has stopped changing.
    """


class APIResponseError(AtlasError):
    """Atlas answered 2xx but the body could not be understood."""


class APIStatusError(AtlasError):
    """Atlas answered with an error status."""

    def __init__(self, status: int, message: str, *, request_id: str | None = None) -> None:
        super().__init__(f"Atlas API error {status}: {message}{_id_text(request_id)}")
        self.status = status
        self.message = message
        self.request_id = request_id


class AuthenticationError(APIStatusError):
    """401/403: the API key is missing, wrong, or has no access to this resource."""


class WrongBaseURLError(AuthenticationError):
    """A 401 where the key cannot be the cause: Atlas's gateway checks the key before it
    routes, so a wrong path (a base URL ending in `/api/v1`) also answers 401."""


class InsufficientBalanceError(APIStatusError):
    """402: the Atlas account has too little balance for this request."""


class BadRequestError(APIStatusError):
    """400/422: bad parameters or unknown model; the message says which."""


class NotFoundError(APIStatusError):
    """404: unknown prediction id or resource."""


class ModelUnavailableError(NotFoundError):
    """404 on generate: the model does not exist for, or is not enabled on, this account."""


class PayloadTooLargeError(APIStatusError):
    """413: the upload is over Atlas's size limit."""


class RateLimitError(APIStatusError):
    """429: too many requests; `retry_after` is the server's hint in seconds, if any."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, request_id=request_id)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: a fault on Atlas's side."""


class Refused(AtlasMCPError):
    """The call cannot go ahead as asked; nothing was sent. The message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


MAX_LISTED = 40


class ArgumentError(AtlasMCPError, ValueError):
    """Arguments the model's schema rejects; `problems` has one line per parameter."""

    def __init__(self, model: str, problems: list[str], accepted: list[str]) -> None:
        self.model = model
        self.problems = problems
        self.accepted = accepted
        super().__init__(self.message)

    @property
    def message(self) -> str:
        listed = ", ".join(self.accepted[:MAX_LISTED])
        if len(self.accepted) > MAX_LISTED:
            listed += ", …"
        head = "; ".join(self.problems)
        return (
            f"Invalid arguments for {self.model}: {head}. Accepted parameters: {listed}. "
            "Nothing was sent."
        )


class ArgumentLimit(AtlasMCPError, ValueError):
    """A tool argument is out of any sensible shape; the message says what to pass."""


class FileRefused(AtlasMCPError):
    """A path or file the server will not read or write; the message says why."""


class MediaMismatch(AtlasMCPError, ValueError):
    """The content is not media Atlas consumes, or its extension names another format."""


class InlineDataError(AtlasMCPError, ValueError):
    """An inline output that is not a decodable image; the message says why."""


class DownloadFailed(AtlasMCPError):
    """The video could not be fetched or is not a video; the message says why."""


class SchemaUnreadable(AtlasMCPError, ValueError):
    """The document holds no input schema this module can read; the message says why."""


class LedgerError(AtlasMCPError):
    """The ledger file cannot be opened, read or written; the message says why."""


class LostSubmission(AtlasMCPError):
    """The POST may have created a job but no id came back and history does not show it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class JobNotCreated(AtlasMCPError):
    """Atlas refused a generate request, or it never reached Atlas: no job, nothing billed.

    `error` is Atlas's refusal; `balance` the account's available balance when the
    refusal was about it (402) and it could be read."""

    def __init__(self, error: AtlasError, balance: str | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.balance = balance


class Retryable(AtlasMCPError):
    """This attempt failed in a way the policy may retry; `error` is what to raise if not."""

    def __init__(self, error: Exception, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class DemoError(AtlasMCPError):
    """A problem with the demo's options, found before anything starts."""


def _id_text(request_id: str | None) -> str:
    return f" (Atlas request id {request_id})" if request_id else ""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientBalanceError,
    403: AuthenticationError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: BadRequestError,
}


def status_error(
    status: int,
    message: str,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The exception that stands for an HTTP error status."""
    if status == 429:
        return RateLimitError(status, message, request_id=request_id, retry_after=retry_after)
    if status >= 500:
        return ServerError(status, message, request_id=request_id)
    cls = _BY_STATUS.get(status, APIStatusError)
    return cls(status, message, request_id=request_id)


def is_broken_pipe(exc: BaseException) -> bool:
    """Whether `exc` is stdout's reader going away, alone or grouped by a task group."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_broken_pipe(inner) for inner in exc.exceptions)
    return isinstance(exc, BrokenPipeError)
