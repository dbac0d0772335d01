"""The one exception type of the autotm Python package."""

from __future__ import annotations

import grpc


class AutotmError(Exception):
    """An autotm call or helper failed.

    Every error the package raises on purpose is an AutotmError: a refusal by
    the server (with the server's gRPC code and message, e.g. NOT_FOUND for an
    unknown host class), an unreachable server (UNAVAILABLE, after the
    retries), and bad arguments or files caught on the client
    (INVALID_ARGUMENT, NOT_FOUND for a missing file, ...), so callers need
    one `except autotm.AutotmError` and can branch on `code`.

    Attributes:
      code: the grpc.StatusCode.
      message: the server's (or the client's) explanation, for people.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f'{self.code.name}: {self.message}'

    def __repr__(self) -> str:
        return f'AutotmError({self.code}, {self.message!r})'


def invalid_argument(message: str) -> AutotmError:
    return AutotmError(grpc.StatusCode.INVALID_ARGUMENT, message)
