"""autotm.Client: the Python client of the autotm placement service.

The same behaviour as the C++ `autotm::Client` (client/lib/client.h): one Client
holds one gRPC channel; every call blocks, has its own deadline (the
client's `deadline`, or the call's own for plan() and watch_job()), and is
retried with jittered exponential backoff when, and only when, it fails with
UNAVAILABLE (server not reachable yet, restarting, connection reset). Every
other error is raised at once as AutotmError with the server's code and
message: INVALID_ARGUMENT naming the bad entry, NOT_FOUND for an unknown
host class or job, FAILED_PRECONDITION for a fingerprint conflict or a
profile that lacks kernels of the graph, RESOURCE_EXHAUSTED for a full
queue, DEADLINE_EXCEEDED when no plan was found in time (see
proto/autotm/v1/*_service.proto for each RPC's codes).

    import autotm

    with autotm.Client('127.0.0.1:50051') as client:
      client.upload_profile('example_cnn.profile.json')
      graph = autotm.load_graph('example_cnn.graph.json')
      plan = client.plan(graph, 'example-optane-like', '50%', method='sync')
      autotm.save_plan(plan, 'example_cnn.plan.json')

Graphs may be given as an autotm.v1.Graph, the path of a Graph JSON file, a
dict in the protobuf JSON mapping, a "sha256:..." digest of a graph the
server stored earlier (SolveJob.graph_digest), or a GraphRef. Budgets are
bytes (int), parse_bytes() text ("24GiB") or a percentage of the graph's
aligned peak live bytes ("25%"), exactly as `autotm plan --budget`.

A secured server (docs/SECURITY.md) takes TLS and a bearer token:
`autotm.Client(address, tls_ca='ca.pem', token=...)`, or the environment
variables AUTOTM_TLS_CA, AUTOTM_TLS_CERT, AUTOTM_TLS_KEY, AUTOTM_TOKEN_FILE and
AUTOTM_TOKEN, which every Client reads when the arguments are not given (so
autotm.torch and scripts need no change). A caller without credentials gets
UNAUTHENTICATED, one without the RPC's role PERMISSION_DENIED.

Thread safety: a Client may be used from many threads at once (gRPC
channels and stubs are thread-safe; the Client holds no other mutable
state).
"""

from __future__ import annotations

import collections
import hashlib
import os
import random
import time
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

import grpc

from autotm import _digest
from autotm import _json
from autotm import _units
from autotm._errors import AutotmError
from autotm._errors import invalid_argument
from autotm._verify import verify_plan_structure
from autotm.v1 import graph_pb2
from autotm.v1 import job_pb2
from autotm.v1 import placement_service_pb2
from autotm.v1 import placement_service_pb2_grpc
from autotm.v1 import plan_pb2
from autotm.v1 import profile_pb2
from autotm.v1 import profile_service_pb2
from autotm.v1 import profile_service_pb2_grpc
from autotm.v1 import server_service_pb2
from autotm.v1 import server_service_pb2_grpc

GraphLike = Union[
    graph_pb2.Graph, placement_service_pb2.GraphRef, str, 'os.PathLike[str]', Mapping[str, Any]
]
ProfileLike = Union[profile_pb2.Profile, str, 'os.PathLike[str]', Mapping[str, Any]]
Budget = Union[int, str]
Seconds = Union[float, str]
ParametersLike = Union[job_pb2.SolveParameters, Mapping[str, Any]]

_T = TypeVar('_T')
_DIGEST_PREFIX = 'sha256:'
_FINAL_STATES = frozenset(
    (job_pb2.SolveJob.SUCCEEDED, job_pb2.SolveJob.FAILED, job_pb2.SolveJob.CANCELLED)
)

# grpc.health.v1.Health/Check, without the grpcio-health-checking package
# (not in Debian 12): HealthCheckRequest {string service = 1;} and
# HealthCheckResponse {ServingStatus status = 1;} are encoded by hand.
_HEALTH_CHECK = '/grpc.health.v1.Health/Check'
_SERVING = 1


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _decode_varint(data: bytes, pos: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError('truncated varint')
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _encode_health_request(service: str) -> bytes:
    if not service:
        return b''
    name = service.encode('utf-8')
    return b'\x0a' + _encode_varint(len(name)) + name


def _decode_health_status(data: bytes) -> int:
    status = 0
    pos = 0
    while pos < len(data):
        key, pos = _decode_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _decode_varint(data, pos)
            if field == 1:
                status = value
        elif wire_type == 2:
            length, pos = _decode_varint(data, pos)
            pos += length
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f'unexpected wire type {wire_type}')
    return status


def solve_parameters(
    method: Union[str, int, None] = None,
    *,
    time_limit: Optional[Seconds] = None,
    relative_gap: Optional[float] = None,
    alignment_bytes: Optional[int] = None,
    async_window: Optional[int] = None,
    recompute: Union[str, bool, None] = None,
    repetition: Union[str, bool, None] = None,
    base: Optional[ParametersLike] = None,
) -> job_pb2.SolveParameters:
    """An autotm.v1.SolveParameters (part of the plan-cache key).

    Fields left None keep `base`'s value (a SolveParameters or its dict), and
    zero fields mean the server's defaults: synchronous ILP, 60 s per budget,
    gap 0.01, 4096-byte alignment, async window 15, no re-runs, the full
    model only.

    Args:
      method: see parse_method(): "static", "sync", "async", "all-fast",
        "all-slow", "first-touch", a Method name or value.
      time_limit: wall-clock limit per budget: seconds or "500ms", "2min".
      relative_gap: stop when proven within this gap of optimal, in [0, 1).
      alignment_bytes: fast-pool alignment.
      async_window: asynchronous window, kernels.
      recompute: "auto" (or True) lets the ILP re-run producers instead of
        keeping or moving their outputs (`autotm solve --recompute auto`;
        sync only); "none" (or False) never. The plans differ, and so do
        their cache keys.
      repetition: "auto" (or True) lets the planner solve the model with the
        columns of identical layers tied first and start the full ILP from
        its broadcast plan (`autotm solve --repetition auto`); "off" (or
        False) solves the full model only. Part of the cache key when
        "auto". Pass the result as `parameters=` to plan(), lookup_plan()
        or create_job().
      base: parameters to start from.

    Raises:
      AutotmError: INVALID_ARGUMENT for an unknown method, recompute or
        repetition mode, or bad duration.
    """
    if base is None:
        parameters = job_pb2.SolveParameters()
    elif isinstance(base, job_pb2.SolveParameters):
        parameters = job_pb2.SolveParameters()
        parameters.CopyFrom(base)
    else:
        parameters = _json.parse_dict(base, job_pb2.SolveParameters, 'parameters')
    if method is not None:
        parameters.method = _units.parse_method(method)
    seconds = _units.optional_seconds(time_limit)
    if seconds is not None:
        parameters.time_limit_seconds = seconds
    if relative_gap is not None:
        parameters.relative_gap = relative_gap
    if alignment_bytes is not None:
        parameters.alignment_bytes = alignment_bytes
    if async_window is not None:
        parameters.async_window = async_window
    if recompute is not None:
        parameters.recompute = _recompute_mode(recompute)
    if repetition is not None:
        parameters.repetition = _mode(
            repetition,
            'repetition',
            {'off': job_pb2.REPETITION_MODE_OFF, 'auto': job_pb2.REPETITION_MODE_AUTO},
        )
    return parameters


def _recompute_mode(recompute: Union[str, bool, int]) -> int:
    return _mode(
        recompute,
        'recompute',
        {'none': job_pb2.RECOMPUTE_MODE_NONE, 'auto': job_pb2.RECOMPUTE_MODE_AUTO},
    )


def _mode(value: Union[str, bool, int], name: str, modes: dict) -> int:
    """An on/off enum field from True/False, its names (the first is off) or
    its values."""
    off, on = modes
    if isinstance(value, bool):
        return modes[on if value else off]
    if isinstance(value, str) and value.lower() in modes:
        return modes[value.lower()]
    if isinstance(value, int) and value in modes.values():
        return value
    raise invalid_argument(f'unknown {name} mode {value!r}; expected "{off}" or "{on}"')


def _as_graph(graph: GraphLike) -> graph_pb2.Graph:
    """The Graph message itself (not a digest)."""
    if isinstance(graph, graph_pb2.Graph):
        return graph
    if isinstance(graph, placement_service_pb2.GraphRef):
        if graph.HasField('inline_graph'):
            return graph.inline_graph
        raise invalid_argument('this needs the graph itself, not the digest of a stored graph')
    if isinstance(graph, Mapping):
        return _json.parse_dict(graph, graph_pb2.Graph, 'graph')
    if isinstance(graph, str) and graph.startswith(_DIGEST_PREFIX):
        raise invalid_argument(f'this needs the graph itself, not the digest "{graph}"')
    if isinstance(graph, (str, os.PathLike)):
        return _json.load_graph(graph)
    raise invalid_argument(
        f'expected a graph (autotm.v1.Graph, a JSON file path, a dict or a '
        f'"sha256:" digest), not {type(graph).__name__}'
    )


def _graph_ref(
    graph: GraphLike,
) -> Tuple[placement_service_pb2.GraphRef, Optional[graph_pb2.Graph]]:
    """The GraphRef to send, and the Graph itself when it is known here."""
    if isinstance(graph, placement_service_pb2.GraphRef):
        inline = graph.inline_graph if graph.HasField('inline_graph') else None
        return graph, inline
    if isinstance(graph, str) and graph.startswith(_DIGEST_PREFIX):
        return placement_service_pb2.GraphRef(digest=graph), None
    message = _as_graph(graph)
    return placement_service_pb2.GraphRef(inline_graph=message), message


# The default of the server's --max-message-bytes (gRPC's own default).
DEFAULT_MAX_MESSAGE_BYTES = 4 << 20
# What a request adds to its graph's encoding, with room to spare.
_REQUEST_OVERHEAD_BYTES = 4096
# Pieces of UploadGraph and StreamPlan streams.
_PIECE_BYTES = 1 << 20


def _plan_too_large(error: AutotmError) -> bool:
    """The server's answer for a plan over the message limit
    (placement_service.proto): fetch it with StreamPlan."""
    return error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.message.startswith(
        'plan too large for one message'
    )


def _graph_missing(error: AutotmError) -> bool:
    """The server's answer for a digest it has no graph of."""
    return error.code == grpc.StatusCode.NOT_FOUND and error.message.startswith(
        'graph.digest: no stored graph'
    )


def _lookup_of(request: placement_service_pb2.PlanGraphRequest) -> Any:
    return placement_service_pb2.GetPlanRequest(
        graph=request.graph,
        host_class=request.host_class,
        budget_bytes=request.budget_bytes,
        parameters=request.parameters,
    )


def _as_profile(profile: ProfileLike) -> profile_pb2.Profile:
    if isinstance(profile, profile_pb2.Profile):
        return profile
    if isinstance(profile, Mapping):
        return _json.parse_dict(profile, profile_pb2.Profile, 'profile')
    if isinstance(profile, (str, os.PathLike)):
        return _json.load_profile(profile)
    raise invalid_argument(
        f'expected a profile (autotm.v1.Profile, a JSON file path or a dict), '
        f'not {type(profile).__name__}'
    )


def resolve_budget(budget: Budget, graph: Optional[graph_pb2.Graph] = None) -> int:
    """A budget in bytes: an int as is, text through parse_budget().

    A percentage ("25%") is of peak_live_bytes(graph) with the default
    4096-byte alignment, as `autotm plan --budget` computes it.

    Raises:
      AutotmError: INVALID_ARGUMENT for a negative count, bad text, or a
        percentage without the graph (e.g. only its digest).
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, str)):
        raise invalid_argument(
            f'a budget is bytes (int) or text such as "24GiB" or "25%", not '
            f'{type(budget).__name__}'
        )
    if isinstance(budget, int):
        if not 0 <= budget < 2**64:
            raise invalid_argument(f'budget {budget} is not a byte count')
        return budget
    if budget.strip().endswith('%'):
        if graph is None:
            raise invalid_argument(
                f'budget "{budget}" is a percentage of the graph\'s peak live '
                'bytes; give the graph itself, not its digest'
            )
        return _units.parse_budget(budget, _units.peak_live_bytes(graph))
    return _units.parse_budget(budget, 0)


def _read_file(path: str, what: str) -> bytes:
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise AutotmError(
            grpc.StatusCode.NOT_FOUND, f'client: cannot read {what} {path}: {e.strerror}'
        ) from None


def _security(
    tls: Optional[bool],
    tls_ca: Optional[str],
    tls_cert: Optional[str],
    tls_key: Optional[str],
    token: Optional[str],
) -> Tuple[Optional[grpc.ChannelCredentials], str]:
    """The channel credentials (None: plaintext) and the bearer token ('' for
    none), from the arguments or the AUTOTM_* environment variables."""
    env = os.environ
    tls_ca = tls_ca if tls_ca is not None else env.get('AUTOTM_TLS_CA') or None
    tls_cert = tls_cert if tls_cert is not None else env.get('AUTOTM_TLS_CERT') or None
    tls_key = tls_key if tls_key is not None else env.get('AUTOTM_TLS_KEY') or None
    if token is None:
        token_file = env.get('AUTOTM_TOKEN_FILE')
        if token_file:
            lines = _read_file(token_file, 'token file').decode('utf-8').splitlines()
            token = lines[0].strip() if lines else ''
            if not token:
                raise invalid_argument(f'client: the token file {token_file} has no token')
        else:
            token = env.get('AUTOTM_TOKEN', '').strip()
    use_tls = bool(tls) or any(x is not None for x in (tls_ca, tls_cert, tls_key))
    if not use_tls:
        if token:
            raise invalid_argument(
                'client: a token needs TLS (tls_ca=...): it would travel in clear text'
            )
        return None, ''
    if (tls_cert is None) != (tls_key is None):
        raise invalid_argument('client: a TLS client certificate needs both tls_cert and tls_key')
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read_file(tls_ca, 'TLS CA file') if tls_ca else None,
        private_key=_read_file(tls_key, 'TLS key') if tls_key else None,
        certificate_chain=_read_file(tls_cert, 'TLS certificate') if tls_cert else None,
    )
    return credentials, token


class _ClientCallDetails(
    collections.namedtuple(
        '_ClientCallDetails',
        ('method', 'timeout', 'metadata', 'credentials', 'wait_for_ready', 'compression'),
    ),
    grpc.ClientCallDetails,
):
    pass


class _TokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
):
    """Adds "authorization: Bearer TOKEN" to every call."""

    def __init__(self, token: str) -> None:
        self._header = ('authorization', f'Bearer {token}')

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = list(details.metadata or ()) + [self._header]
        return _ClientCallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, 'wait_for_ready', None),
            getattr(details, 'compression', None),
        )

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request_iterator)


class Client:
    """A connection to an autotm-server; see the module docstring.

    Creating a Client does not wait for the server: the first call connects,
    retrying UNAVAILABLE as configured. Use it as a context manager, or call
    close(), to release the channel.
    """

    def __init__(
        self,
        address: str,
        *,
        deadline: float = 30.0,
        max_attempts: int = 4,
        initial_backoff: float = 0.1,
        max_backoff: float = 2.0,
        channel_options: Sequence[Tuple[str, Any]] = (),
        tls: Optional[bool] = None,
        tls_ca: Optional[str] = None,
        tls_cert: Optional[str] = None,
        tls_key: Optional[str] = None,
        token: Optional[str] = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        """Creates the channel.

        Args:
          address: the server, "HOST:PORT" (any gRPC target works, e.g.
            "dns:///autotm.internal:50051").
          deadline: seconds each attempt of each call may take (plan() and
            watch_job() take their own).
          max_attempts: attempts per call while the server answers UNAVAILABLE
            (1 = no retry).
          initial_backoff: seconds before the second attempt, doubled after each
            failed attempt up to `max_backoff`, each sleep jittered by +-20%.
            The channel's reconnect backoff follows the same schedule, so each
            retry really tries to connect again.
          channel_options: extra gRPC channel arguments; they override the
            defaults here (no message size limits, the reconnect backoff).
          tls: use TLS (with the system's roots unless `tls_ca` is given). On
            when any TLS file is given. docs/SECURITY.md.
          tls_ca: PEM file of the roots the server's certificate must chain
            to; default $AUTOTM_TLS_CA.
          tls_cert, tls_key: PEM client certificate and key for mutual TLS;
            default $AUTOTM_TLS_CERT and $AUTOTM_TLS_KEY.
          token: bearer token sent with every call; default the first line
            of $AUTOTM_TOKEN_FILE, or $AUTOTM_TOKEN. Needs TLS.
          max_message_bytes: the server's --max-message-bytes
            (ServerInfo.max_message_bytes; default gRPC's 4 MiB). A request
            whose graph would make it larger goes by upload_graph() and the
            digest instead; plans the server finds too large for one message
            come back by StreamPlan. Both switches happen inside plan() and
            lookup_plan().

        Raises:
          AutotmError: INVALID_ARGUMENT for an empty address, a non-positive
            deadline, max_attempts < 1, a negative backoff, a client
            certificate without its key (or the reverse) or a token without
            TLS; NOT_FOUND for a TLS or token file that cannot be read.
        """
        if not address:
            raise invalid_argument('client: the server address is empty')
        if not deadline > 0:
            raise invalid_argument(f'client: the deadline must be positive, not {deadline}')
        if isinstance(max_attempts, bool) or not (
            isinstance(max_attempts, int) and max_attempts >= 1
        ):
            raise invalid_argument(f'client: max_attempts must be at least 1, not {max_attempts}')
        if not (initial_backoff >= 0 and max_backoff >= 0):
            raise invalid_argument(
                f'client: backoffs must be >= 0, not {initial_backoff} and ' f'{max_backoff}'
            )
        self._closed = False
        self._address = address
        self._deadline = float(deadline)
        self._max_attempts = max_attempts
        self._initial_backoff = float(initial_backoff)
        self._max_backoff = float(max_backoff)
        if isinstance(max_message_bytes, bool) or not (
            isinstance(max_message_bytes, int) and (64 << 10) <= max_message_bytes <= (1 << 30)
        ):
            raise invalid_argument(
                f'client: max_message_bytes must be in [64 KiB, 1 GiB], not {max_message_bytes}'
            )
        self._max_message_bytes = max_message_bytes
        options = {
            # Plans and graphs of large models exceed gRPC's default 4 MiB.
            'grpc.max_receive_message_length': -1,
            'grpc.max_send_message_length': -1,
            'grpc.initial_reconnect_backoff_ms': max(1, int(self._initial_backoff * 1000)),
            'grpc.max_reconnect_backoff_ms': max(1, int(self._max_backoff * 1000)),
        }
        options.update(dict(channel_options))
        credentials, self._token = _security(tls, tls_ca, tls_cert, tls_key, token)
        if credentials is None:
            self._channel = grpc.insecure_channel(address, options=list(options.items()))
        else:
            self._channel = grpc.secure_channel(address, credentials, options=list(options.items()))
        if self._token:
            self._channel = grpc.intercept_channel(self._channel, _TokenInterceptor(self._token))
        self._profiles = profile_service_pb2_grpc.ProfileServiceStub(self._channel)
        self._placement = placement_service_pb2_grpc.PlacementServiceStub(self._channel)
        self._server = server_service_pb2_grpc.ServerServiceStub(self._channel)
        self._health = self._channel.unary_unary(
            _HEALTH_CHECK,
            request_serializer=_encode_health_request,
            response_deserializer=_decode_health_status,
        )

    # --- Lifetime and options.

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled, later calls raise
        AutotmError (FAILED_PRECONDITION). Idempotent."""
        self._closed = True
        self._channel.close()

    def __enter__(self) -> 'Client':
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f'autotm.Client({self._address!r})'

    @property
    def address(self) -> str:
        return self._address

    @property
    def deadline(self) -> float:
        return self._deadline

    @property
    def max_attempts(self) -> int:
        return self._max_attempts

    @property
    def initial_backoff(self) -> float:
        return self._initial_backoff

    @property
    def max_backoff(self) -> float:
        return self._max_backoff

    # --- The retry loop.

    def _error(self, error: grpc.RpcError, attempts: Optional[int] = None) -> AutotmError:
        """AutotmError from a gRPC error; UNAVAILABLE/DEADLINE_EXCEEDED name the
        server (and how many attempts were made)."""
        code = error.code() if hasattr(error, 'code') else None
        if not isinstance(code, grpc.StatusCode):
            code = grpc.StatusCode.UNKNOWN
        message = (error.details() if hasattr(error, 'details') else None) or ''
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            message = f'server {self._address}: {message}'
            if attempts is not None:
                message += f' ({attempts} attempt{"" if attempts == 1 else "s"})'
        return AutotmError(code, message)

    def _check_open(self) -> None:
        if self._closed:
            raise AutotmError(
                grpc.StatusCode.FAILED_PRECONDITION, f'client: closed (server {self._address})'
            )

    def _call(self, rpc: Callable[..., _T], request: Any, deadline: Optional[float] = None) -> _T:
        """rpc(request, timeout=...) up to max_attempts times while it fails
        with UNAVAILABLE; each attempt has the whole deadline."""
        self._check_open()
        timeout = self._deadline if deadline is None else deadline
        backoff = self._initial_backoff
        attempt = 1
        while True:
            try:
                return rpc(request, timeout=timeout)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self._max_attempts:
                    raise self._error(e, attempt) from None
            self._backoff(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self._max_backoff)
            attempt += 1

    def _backoff(self, seconds: float) -> None:
        """Sleeps `seconds` while letting the channel reconnect.

        grpcio only notices a finished connection attempt when something polls
        the channel; a call failing fast does not, so without this a retry
        would see a server that came up late only at gRPC's 5 s backup poll.
        Waiting for the channel to become ready polls it (and asks it to
        connect); the backoff is slept in full either way.
        """
        end = time.monotonic() + seconds
        ready = grpc.channel_ready_future(self._channel)
        try:
            ready.result(timeout=seconds)
        except (grpc.FutureTimeoutError, grpc.FutureCancelledError):
            pass  # not ready in time, or the client was closed meanwhile
        finally:
            ready.cancel()
        left = end - time.monotonic()
        if left > 0:
            time.sleep(left)

    # --- Server.

    def health(self) -> bool:
        """True when the server's health service says SERVING for the whole
        server, False otherwise (e.g. NOT_SERVING while shutting down).

        Raises:
          AutotmError: UNAVAILABLE when the server cannot be reached (after the
            retries).
        """
        return self._call(self._health, '') == _SERVING

    # --- ProfileService.

    def upload_profile(
        self, profile: ProfileLike
    ) -> profile_service_pb2.UploadMeasurementsResponse:
        """Uploads a whole profile (ImportProfile).

        Each configuration time becomes one measurement with a deterministic
        id, so uploading the same profile twice changes nothing (accepted 0,
        the profile version unchanged).

        Args:
          profile: an autotm.v1.Profile, the path of its JSON file (`autotm
            profile synth`, `autotm profiles export`) or its dict.

        Raises:
          AutotmError: INVALID_ARGUMENT (no host class name, a bad entry, named);
            FAILED_PRECONDITION (the host class exists with another
            fingerprint); NOT_FOUND/INVALID_ARGUMENT for a bad file.
        """
        request = profile_service_pb2.ImportProfileRequest(profile=_as_profile(profile))
        return self._call(self._profiles.ImportProfile, request)

    def upload_measurements(
        self, request: profile_service_pb2.UploadMeasurementsRequest
    ) -> profile_service_pb2.UploadMeasurementsResponse:
        """Uploads individual measurements (UploadMeasurements).

        The measurement ids make re-sending idempotent; several measurements of
        one (signature, configuration) are served as their median. A new host
        class needs `request.bandwidths`.
        """
        return self._call(self._profiles.UploadMeasurements, request)

    def stream_measurements(
        self, batches: Iterable[profile_service_pb2.UploadMeasurementsRequest]
    ) -> profile_service_pb2.UploadMeasurementsResponse:
        """Uploads batches over one client stream (StreamMeasurements).

        For large uploads; the counts are summed over the batches. The server
        applies each batch as it arrives and stops at the first bad one (its
        error is raised; earlier batches stay stored). A sequence (list, tuple)
        is retried as a whole on UNAVAILABLE, which is safe because uploads are
        idempotent; any other iterable (e.g. a generator producing batches
        lazily) is sent once, without retries.
        """
        if isinstance(batches, Sequence):
            # A fresh iterator per attempt.
            return self._call(
                lambda b, timeout: self._profiles.StreamMeasurements(iter(b), timeout=timeout),
                batches,
            )
        self._check_open()
        iterator = iter(batches)
        try:
            return self._profiles.StreamMeasurements(iterator, timeout=self._deadline)
        except grpc.RpcError as e:
            raise self._error(e, 1) from None

    def list_host_classes(self) -> list[profile_service_pb2.HostClassSummary]:
        """Every host class with its coverage, sorted by name."""
        response = self._call(
            self._profiles.ListHostClasses, profile_service_pb2.ListHostClassesRequest()
        )
        return list(response.host_classes)

    def get_host_class(self, name: str) -> profile_service_pb2.HostClassSummary:
        """One host class's summary. NOT_FOUND for an unknown name."""
        return self._call(
            self._profiles.GetHostClass, profile_service_pb2.GetHostClassRequest(name=name)
        )

    def export_profile(self, name: str) -> profile_pb2.Profile:
        """The profile as served for planning (per configuration the median of
        its measurements); importable again as it is. NOT_FOUND if unknown."""
        return self._call(
            self._profiles.ExportProfile, profile_service_pb2.ExportProfileRequest(name=name)
        )

    def delete_host_class(self, name: str) -> None:
        """Deletes a host class and its measurements. NOT_FOUND if unknown."""
        self._call(
            self._profiles.DeleteHostClass, profile_service_pb2.DeleteHostClassRequest(name=name)
        )

    def server_info(self) -> server_service_pb2.ServerInfo:
        """The server's version, security mode and quotas, and who this client
        is to it (principal, roles): ServerService.GetServerInfo."""
        return self._call(self._server.GetServerInfo, server_service_pb2.GetServerInfoRequest())

    def drop_measurements(
        self, host_class: str, principal: str
    ) -> profile_service_pb2.DropMeasurementsResponse:
        """Deletes every measurement `principal` uploaded to `host_class`
        (operators; get_host_class() lists the contributions). NOT_FOUND for
        an unknown host class."""
        return self._call(
            self._profiles.DropMeasurements,
            profile_service_pb2.DropMeasurementsRequest(host_class=host_class, principal=principal),
        )

    def get_work_list(
        self, host_class: str, graph: Optional[GraphLike] = None
    ) -> profile_pb2.WorkList:
        """A profiler agent's work list: what `host_class` still lacks.

        The signatures that graphs submitted for `host_class` (by a plan
        request, or a work-list request carrying the graph) miss in its
        profile, in order of first use. With `graph`, it is recorded as
        submitted and the list is restricted to its kernels. An unknown host
        class is not an error: everything its graphs use is missing.

        Raises:
          AutotmError: INVALID_ARGUMENT for an empty host class name or an
            invalid graph (naming what is wrong).
        """
        request = profile_service_pb2.GetWorkListRequest(host_class=host_class)
        if graph is not None:
            request.graph.CopyFrom(_as_graph(graph))
        return self._call(self._profiles.GetWorkList, request)

    # --- PlacementService.

    def plan(
        self,
        graph: GraphLike,
        host_class: str,
        budget: Budget,
        *,
        method: Union[str, int, None] = None,
        time_limit: Optional[Seconds] = None,
        relative_gap: Optional[float] = None,
        recompute: Union[str, bool, None] = None,
        parameters: Optional[ParametersLike] = None,
        priority: int = 0,
        deadline: Seconds = 120.0,
        solve_if_missing: bool = True,
    ) -> plan_pb2.Plan:
        """The plan for `graph` on `host_class` under `budget` (PlanGraph).

        The cached plan at once, or a solve on the server that returns within
        `deadline` with the best plan found (its stats carry the termination
        and gap; TERMINATION_CANCELLED when the deadline cut the solve short).
        A budget no plan fits is an answer, not an error: a Plan whose
        stats.termination is TERMINATION_INFEASIBLE, with no tensors and
        `no_plan_reason` saying why.
        The call is retried on UNAVAILABLE only (a queued orphan still fills
        the cache). With solve_if_missing=False it only looks the plan up
        (GetPlan), as lookup_plan().

        Args:
          graph: see the module docstring.
          host_class: whose uploaded profile to plan with.
          budget: fast-memory bytes at every kernel: int, "24GiB" or "25%".
          method, time_limit, relative_gap, recompute, parameters: see
            solve_parameters(); part of the plan-cache key.
          priority: queue priority of the solve (higher runs first).
          deadline: seconds (or "2min") the whole call may take.
          solve_if_missing: solve when no plan is cached.

        Raises:
          AutotmError: NOT_FOUND when not cached and not solve_if_missing, or
            for an unknown host class; INVALID_ARGUMENT for a bad graph or
            parameters; FAILED_PRECONDITION when the profile lacks kernels of
            the graph (the message lists them);
            RESOURCE_EXHAUSTED when the queue is full; DEADLINE_EXCEEDED when
            no plan was found in time; INTERNAL when the served plan fails
            verification against `graph` and `budget` (structure, budget at
            every kernel, pool offsets; autotm/_verify.py), which is checked
            whenever the graph is given rather than only its digest.

        Digest first: when the graph is given, the request names it by its
        canonical digest (autotm.graph_digest) and the graph is sent only
        when the server answers that it lacks it; then inline, or by
        upload_graph() when over max_message_bytes.
        """
        if not solve_if_missing:
            return self.lookup_plan(
                graph,
                host_class,
                budget,
                method=method,
                time_limit=time_limit,
                relative_gap=relative_gap,
                recompute=recompute,
                parameters=parameters,
            )
        ref, message = _graph_ref(graph)
        request = placement_service_pb2.PlanGraphRequest(
            graph=ref,
            host_class=host_class,
            budget_bytes=resolve_budget(budget, message),
            parameters=solve_parameters(
                method,
                time_limit=time_limit,
                relative_gap=relative_gap,
                recompute=recompute,
                base=parameters,
            ),
            priority=priority,
        )
        seconds = _units.optional_seconds(deadline)
        if not seconds or seconds <= 0:
            raise invalid_argument(f'deadline must be positive, not {deadline}')
        plan = self._digest_first(request, message, lambda r: self._plan_graph(r, seconds), seconds)
        if plan.stats.termination == plan_pb2.TERMINATION_INFEASIBLE:
            # No plan fits the budget: an answer without a plan.
            if (
                plan.tensors
                or plan.moves
                or plan.kernels
                or (plan.budget_bytes != request.budget_bytes)
            ):
                raise AutotmError(
                    grpc.StatusCode.INTERNAL,
                    'the server answered INFEASIBLE with a plan, or for another budget',
                )
            return plan
        if message is not None:
            verify_plan_structure(message, plan, request.budget_bytes)
        return plan

    def _digest_first(
        self,
        request: Any,
        graph: Optional[graph_pb2.Graph],
        rpc: Callable[[Any], plan_pb2.Plan],
        deadline: Optional[float] = None,
    ) -> plan_pb2.Plan:
        """rpc(request) asking by the graph's digest first when the graph is
        known here; the graph is sent only when the server lacks it."""
        if graph is None:
            return rpc(self._fit(request, deadline))
        by_digest = type(request)()
        by_digest.CopyFrom(request)
        by_digest.graph.digest = _digest.graph_digest(graph)
        try:
            return rpc(by_digest)
        except AutotmError as e:
            if not _graph_missing(e):
                raise
        return rpc(self._fit(request, deadline))

    def _fit(self, request: Any, deadline: Optional[float] = None) -> Any:
        """`request`, or when its inline graph makes it larger than the
        message limit, the same request by digest after upload_graph()."""
        if not request.graph.HasField('inline_graph') or (
            request.ByteSize() + _REQUEST_OVERHEAD_BYTES <= self._max_message_bytes
        ):
            return request
        digest = self.upload_graph(request.graph.inline_graph, deadline=deadline)
        by_digest = type(request)()
        by_digest.CopyFrom(request)
        by_digest.graph.digest = digest
        return by_digest

    def _plan_graph(
        self, request: placement_service_pb2.PlanGraphRequest, seconds: float
    ) -> plan_pb2.Plan:
        try:
            return self._call(self._placement.PlanGraph, request, deadline=seconds)
        except AutotmError as e:
            if not _plan_too_large(e):
                raise
        # The plan is cached by the time the server says it is too large.
        return self.stream_plan(_lookup_of(request))

    def _get_plan(self, request: placement_service_pb2.GetPlanRequest) -> plan_pb2.Plan:
        try:
            return self._call(self._placement.GetPlan, request)
        except AutotmError as e:
            if not _plan_too_large(e):
                raise
        return self.stream_plan(request)

    def upload_graph(self, graph: GraphLike, *, deadline: Optional[Seconds] = None) -> str:
        """Uploads `graph` by UploadGraph in 1 MiB pieces of its canonical
        encoding and returns its digest, under which the server stores it.

        For graphs over the message limit (plan() does this by itself).
        Retried whole on UNAVAILABLE (uploads are idempotent).

        Raises:
          AutotmError: INVALID_ARGUMENT for a graph the server finds invalid
            (naming the kernel or tensor).
        """
        message = _as_graph(graph)
        data = _digest.canonical_graph_bytes(message)
        digest = _digest.DIGEST_PREFIX + hashlib.sha256(data).hexdigest()
        piece = min(_PIECE_BYTES, self._max_message_bytes // 2)

        def pieces() -> Iterator[placement_service_pb2.UploadGraphRequest]:
            yield placement_service_pb2.UploadGraphRequest(
                digest=digest, total_bytes=len(data), data=data[:piece]
            )
            for offset in range(piece, len(data), piece):
                yield placement_service_pb2.UploadGraphRequest(data=data[offset : offset + piece])

        seconds = _units.optional_seconds(deadline) if deadline is not None else None
        # A minute per 100 MB on top of the per-call deadline.
        timeout = (seconds or self._deadline) + len(data) / (100 << 20) * 60
        response = self._call(
            lambda _, timeout: self._placement.UploadGraph(pieces(), timeout=timeout),
            None,
            deadline=timeout,
        )
        if response.digest != digest:
            raise AutotmError(
                grpc.StatusCode.INTERNAL,
                f'UploadGraph: the server stored the graph as "{response.digest}", not {digest}',
            )
        return digest

    def stream_plan(self, request: placement_service_pb2.GetPlanRequest) -> plan_pb2.Plan:
        """The cached plan for the request's inputs by StreamPlan, in pieces:
        for plans over the message limit. Not verified (plan() and
        lookup_plan() verify)."""

        def fetch(r: Any, timeout: float) -> bytes:
            return b''.join(chunk.data for chunk in self._placement.StreamPlan(r, timeout=timeout))

        data = self._call(fetch, request)
        return plan_pb2.Plan.FromString(data)

    def lookup_plan(
        self,
        graph: GraphLike,
        host_class: str,
        budget: Budget,
        *,
        method: Union[str, int, None] = None,
        time_limit: Optional[Seconds] = None,
        relative_gap: Optional[float] = None,
        recompute: Union[str, bool, None] = None,
        parameters: Optional[ParametersLike] = None,
    ) -> plan_pb2.Plan:
        """The cached plan for exactly these inputs (GetPlan); never solves.

        Raises:
          AutotmError: NOT_FOUND when no such plan is cached (or the digest or
            host class is unknown); INVALID_ARGUMENT; INTERNAL when the plan
            fails verification against `graph` (as in plan()).
        """
        ref, message = _graph_ref(graph)
        request = placement_service_pb2.GetPlanRequest(
            graph=ref,
            host_class=host_class,
            budget_bytes=resolve_budget(budget, message),
            parameters=solve_parameters(
                method,
                time_limit=time_limit,
                relative_gap=relative_gap,
                recompute=recompute,
                base=parameters,
            ),
        )
        plan = self._digest_first(request, message, self._get_plan)
        if message is not None:
            verify_plan_structure(message, plan, request.budget_bytes)
        return plan

    def create_job(
        self,
        graph: GraphLike,
        host_class: str,
        budgets: Union[Budget, Sequence[Budget]],
        *,
        method: Union[str, int, None] = None,
        time_limit: Optional[Seconds] = None,
        relative_gap: Optional[float] = None,
        recompute: Union[str, bool, None] = None,
        parameters: Optional[ParametersLike] = None,
        priority: int = 0,
    ) -> job_pb2.SolveJob:
        """Queues a solve of one or several budgets (CreateSolveJob).

        Returns the QUEUED job at once; follow it with watch_job() or
        get_job(). Its plans go to the plan cache, one per budget in order
        (SolveJob.plan_keys), where plan()/lookup_plan() find them.

        Raises:
          AutotmError: INVALID_ARGUMENT (a bad graph — naming the kernel or
            tensor —, no budgets, bad parameters); NOT_FOUND (unknown digest or
            host class); FAILED_PRECONDITION (the profile lacks kernels of the
            graph; the message lists the signatures); RESOURCE_EXHAUSTED (the
            queue is full).
        """
        ref, message = _graph_ref(graph)
        if isinstance(budgets, (int, str)):
            budgets = [budgets]
        request = placement_service_pb2.CreateSolveJobRequest(
            graph=ref,
            host_class=host_class,
            budgets_bytes=[resolve_budget(b, message) for b in budgets],
            parameters=solve_parameters(
                method,
                time_limit=time_limit,
                relative_gap=relative_gap,
                recompute=recompute,
                base=parameters,
            ),
            priority=priority,
        )
        return self._call(self._placement.CreateSolveJob, self._fit(request))

    def get_job(self, job_id: str) -> job_pb2.SolveJob:
        """A job's state and latest progress. NOT_FOUND for an unknown id."""
        return self._call(
            self._placement.GetSolveJob, placement_service_pb2.GetSolveJobRequest(id=job_id)
        )

    def cancel_job(self, job_id: str) -> job_pb2.SolveJob:
        """Cancels a job and returns its state right after.

        A queued job becomes CANCELLED at once and never runs; a running one
        stops within about a second and keeps its best plan so far (watch it
        to see it CANCELLED); a finished job is left as it is. NOT_FOUND for an
        unknown id.
        """
        return self._call(
            self._placement.CancelSolveJob, placement_service_pb2.CancelSolveJobRequest(id=job_id)
        )

    def list_jobs(
        self, state: Union[str, int, None] = None, page_size: int = 0, page_token: str = ''
    ) -> placement_service_pb2.ListSolveJobsResponse:
        """One page of jobs, newest first (ListSolveJobs).

        Args:
          state: only jobs in this state ("queued", "running", "succeeded",
            "failed", "cancelled", or a SolveJob.State); None for all.
          page_size: at most this many (0: the server's default; at most 1000).
          page_token: the previous page's next_page_token ("" for the first).

        Returns:
          `.jobs` and `.next_page_token` ("" on the last page).

        Raises:
          AutotmError: INVALID_ARGUMENT for a bad state, page size or token.
        """
        request = placement_service_pb2.ListSolveJobsRequest(
            state=_units.parse_job_state(state), page_size=page_size, page_token=page_token
        )
        return self._call(self._placement.ListSolveJobs, request)

    def iter_jobs(
        self, state: Union[str, int, None] = None, page_size: int = 100
    ) -> Iterator[job_pb2.SolveJob]:
        """Every job (in `state`), newest first, fetching pages as needed."""
        token = ''
        while True:
            page = self.list_jobs(state, page_size, token)
            yield from page.jobs
            token = page.next_page_token
            if not token:
                return

    def job_updates(
        self, job_id: str, *, deadline: Seconds = 86400.0
    ) -> Iterator[job_pb2.SolveJob]:
        """The job's state as it changes (WatchSolveJob), ending after the
        final state (SUCCEEDED, FAILED or CANCELLED).

        The first item is the current state. Leaving the loop early (or closing
        the generator) cancels the stream. Not retried.

        Raises:
          AutotmError: NOT_FOUND for an unknown id (at the first item);
            DEADLINE_EXCEEDED when `deadline` passes first; UNAVAILABLE.
        """
        self._check_open()
        seconds = _units.optional_seconds(deadline)
        end = None if seconds is None else time.monotonic() + seconds
        final = (job_pb2.SolveJob.SUCCEEDED, job_pb2.SolveJob.FAILED, job_pb2.SolveJob.CANCELLED)
        # The server ends a watch after its --max-watch-seconds even while
        # the job runs (OK after the latest state): watch again until the job
        # is final or the deadline passes.
        while True:
            left = None if end is None else max(1.0, end - time.monotonic())
            call = self._placement.WatchSolveJob(
                placement_service_pb2.WatchSolveJobRequest(id=job_id), timeout=left
            )
            last = None
            try:
                for job in call:
                    last = job
                    yield job
            except grpc.RpcError as e:
                raise self._error(e) from None
            finally:
                call.cancel()  # no-op once the stream has ended
            if last is None or last.state in final:
                return
            if end is not None and time.monotonic() >= end:
                raise AutotmError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f'job {job_id} is still running at the watch deadline',
                )

    def watch_job(
        self,
        job_id: str,
        on_update: Optional[Callable[[job_pb2.SolveJob], Any]] = None,
        *,
        deadline: Seconds = 86400.0,
    ) -> job_pb2.SolveJob:
        """Follows a job until it is final and returns the final job.

        Args:
          job_id: e.g. "job-000042".
          on_update: called with every state the server streams (the current
            one first, then each change: progress of the running solve —
            incumbent, bound, gap, budgets done — and the final state). An
            exception it raises cancels the watch and propagates.
          deadline: seconds (or "1h") to wait at most.

        Raises:
          AutotmError: NOT_FOUND for an unknown id; DEADLINE_EXCEEDED when the
            job is not final in time; INTERNAL when the stream ended without
            any update.
        """
        last: Optional[job_pb2.SolveJob] = None
        updates = self.job_updates(job_id, deadline=deadline)
        try:
            for job in updates:
                if on_update is not None:
                    on_update(job)
                last = job
        finally:
            updates.close()
        if last is None:
            raise AutotmError(
                grpc.StatusCode.INTERNAL, f'watch of {job_id} ended without any update'
            )
        return last


def connect(address: str, **options: Any) -> Client:
    """Client(address, **options): see Client.__init__."""
    return Client(address, **options)


def is_final(job: job_pb2.SolveJob) -> bool:
    """Whether the job is SUCCEEDED, FAILED or CANCELLED."""
    return job.state in _FINAL_STATES
