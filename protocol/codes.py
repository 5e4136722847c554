"""Numeric codes of the protocol (docs/PROTOCOL.md, PRT-ERR-* and PRT-PUNCH-*).

Request codes follow the style of MNG-03 (``res=5`` tenant code unusable, ``res=6`` terminal
unusable, ``res=7`` person not registered, ``res=9`` server error); the others are ours. The same
numbers appear in error bodies, in per-punch results and in the terminal's log as ``[res=N]``.
"""

from micropython import const

# Per-punch results (HTTP 200): the punch is stored in every case.
ACCEPTED = const(0)
NOT_REGISTERED = const(7)  # MNG-03: credential of nobody on the roster; stored and flagged
TIME_IN_FUTURE = const(20)  # more than the allowed skew ahead of the receiver's clock
CLOCK_UNSYNCED = const(21)  # monotonic time: placed once the boot is tied to real time
CONFLICT = const(22)  # a different punch under a sequence number already held; both kept
TIME_BEFORE_REGISTRATION = const(23)  # before the terminal was registered (beyond the tolerance)
TIME_BACKWARDS = const(24)  # earlier than a punch of a lower sequence number (beyond tolerance)

# Request errors (body of a non-2xx answer).
MALFORMED = const(1)  # 400, names the field
BAD_SIGNATURE = const(2)  # 401
STALE_TIME = const(3)  # 401, the answer carries the receiver's time
REPLAYED = const(4)  # 401, a nonce already used
TENANT_UNUSABLE = const(5)  # 403, MNG-03 res=5
TERMINAL_UNUSABLE = const(6)  # 403, MNG-03 res=6
MAINTENANCE = const(8)  # 503 with Retry-After and the window's end
SERVER_ERROR = const(9)  # 500, MNG-03 res=9
RATE_LIMITED = const(10)  # 429 with Retry-After
TOO_LARGE = const(11)  # 413
NOT_FOUND = const(12)  # 404: unknown path or protocol version
METHOD_NOT_ALLOWED = const(13)  # 405
UNSUPPORTED_MEDIA = const(14)  # 415
UNKNOWN_EMPLOYEE = const(15)  # 404 to an enrolment: no employee with that code (PRT-ENROL-3)
CREDENTIAL_TAKEN = const(16)  # 409 to an enrolment: the credential is another employee's

TEXT = {
    ACCEPTED: "accepted",
    NOT_REGISTERED: "person not registered",
    TIME_IN_FUTURE: "time in the future",
    CLOCK_UNSYNCED: "clock not synchronised",
    CONFLICT: "conflicting punch under a held sequence number",
    TIME_BEFORE_REGISTRATION: "time before the terminal was registered",
    TIME_BACKWARDS: "time earlier than an earlier punch of the terminal",
    MALFORMED: "malformed request",
    BAD_SIGNATURE: "bad signature",
    STALE_TIME: "request time outside the allowed window",
    REPLAYED: "request replayed",
    TENANT_UNUSABLE: "tenant code unusable",
    TERMINAL_UNUSABLE: "terminal unusable",
    MAINTENANCE: "service under maintenance",
    SERVER_ERROR: "server error",
    RATE_LIMITED: "too many requests",
    TOO_LARGE: "request too large",
    NOT_FOUND: "not found",
    METHOD_NOT_ALLOWED: "method not allowed",
    UNSUPPORTED_MEDIA: "unsupported media type",
    UNKNOWN_EMPLOYEE: "no employee with that code",
    CREDENTIAL_TAKEN: "credential already belongs to another employee",
}

STATUS = {
    MALFORMED: 400,
    BAD_SIGNATURE: 401,
    STALE_TIME: 401,
    REPLAYED: 401,
    TENANT_UNUSABLE: 403,
    TERMINAL_UNUSABLE: 403,
    MAINTENANCE: 503,
    SERVER_ERROR: 500,
    RATE_LIMITED: 429,
    TOO_LARGE: 413,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    UNSUPPORTED_MEDIA: 415,
    UNKNOWN_EMPLOYEE: 404,
    CREDENTIAL_TAKEN: 409,
}


class ProtocolError(Exception):
    """A request or message that breaks the protocol: ``code``, ``field`` (or "") and text."""

    def __init__(self, code, message, field=""):
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message

    def __str__(self):
        return self.message
