"""autotm.v1 messages as JSON text and files, interchangeable with the CLI.

The on-disk form of every autotm.v1 message (graphs, profiles, plans) is the
standard protobuf JSON mapping, exactly as client/common/proto_json.cc reads and
writes it: lowerCamelCase field names, enums by name, 64-bit integers as
strings on output (numbers and strings both accepted on input), default
values omitted, two-space indentation and a final newline. Unknown fields
are errors: a misspelled field silently ignored would plan the wrong
problem. Files written here are read by `autotm verify`, `autotm plan`, ...
and the other way round.

Every failure raises AutotmError: NOT_FOUND for a missing file,
PERMISSION_DENIED when it cannot be read or written, INVALID_ARGUMENT for
an empty file or text that is not JSON or not the expected message (the
message starts with the path and, for bad JSON, says line and column).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import stat
from typing import Any, Mapping, Type, TypeVar, Union

import grpc
from google.protobuf import json_format
from google.protobuf import message as message_lib

from autotm._errors import AutotmError
from autotm._errors import invalid_argument
from autotm.v1 import graph_pb2
from autotm.v1 import plan_pb2
from autotm.v1 import profile_pb2

M = TypeVar('M', bound=message_lib.Message)
PathLike = Union[str, 'os.PathLike[str]']

# errno -> gRPC code, as absl::ErrnoToStatus maps them for the C++ CLI.
_ERRNO_CODES = {
    errno.ENOENT: grpc.StatusCode.NOT_FOUND,
    errno.EACCES: grpc.StatusCode.PERMISSION_DENIED,
    errno.EPERM: grpc.StatusCode.PERMISSION_DENIED,
    errno.EEXIST: grpc.StatusCode.ALREADY_EXISTS,
    errno.EISDIR: grpc.StatusCode.FAILED_PRECONDITION,
    errno.ENOTDIR: grpc.StatusCode.FAILED_PRECONDITION,
    errno.EROFS: grpc.StatusCode.FAILED_PRECONDITION,
    errno.ENOSPC: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

_temp_counter = itertools.count()


def _os_error(error: OSError, path: PathLike, action: str) -> AutotmError:
    code = _ERRNO_CODES.get(error.errno, grpc.StatusCode.UNKNOWN)
    reason = error.strerror or str(error)
    return AutotmError(code, f'{os.fspath(path)}: {action}: {reason}')


def parse_json(text: Union[str, bytes], message_type: Type[M], source: str = '<text>') -> M:
    """Parses protobuf JSON text into a new `message_type` message.

    Args:
      text: the JSON text.
      message_type: e.g. autotm.v1.graph_pb2.Graph.
      source: names the text in error messages, usually a file path.

    Returns:
      The message.

    Raises:
      AutotmError: INVALID_ARGUMENT, starting with `source`, for empty text,
        text that is not JSON ("source:LINE:COLUMN: invalid JSON: ...") or
        does not match the message type (unknown field, wrong value type).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode('utf-8')
        except UnicodeDecodeError as e:
            raise invalid_argument(f'{source}: not UTF-8 text: {e}') from None
    type_name = message_type.DESCRIPTOR.full_name
    if not text.strip():
        raise invalid_argument(f'{source}: empty; expected a JSON object ({type_name})')
    message = message_type()
    try:
        json_format.Parse(text, message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        # protobuf wraps the json module's syntax error without its position;
        # the json module itself says where.
        try:
            json.loads(text)
        except json.JSONDecodeError as syntax:
            raise invalid_argument(
                f'{source}:{syntax.lineno}:{syntax.colno}: ' f'invalid JSON: {syntax.msg}'
            ) from None
        raise invalid_argument(f'{source}: not a valid {type_name}: {e}') from None
    return message


def parse_dict(value: Mapping[str, Any], message_type: Type[M], source: str = '<dict>') -> M:
    """Parses a dict in the protobuf JSON mapping (as json.load gives it).

    Raises:
      AutotmError: INVALID_ARGUMENT for an unknown field or a wrong value.
    """
    message = message_type()
    try:
        json_format.ParseDict(value, message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise invalid_argument(
            f'{source}: not a valid {message_type.DESCRIPTOR.full_name}: {e}'
        ) from None
    return message


def to_json(message: message_lib.Message) -> str:
    """The message as indented JSON text ending in a newline (the CLI's form)."""
    return json_format.MessageToJson(message, indent=2, ensure_ascii=False) + '\n'


def load_message(path: PathLike, message_type: Type[M]) -> M:
    """Reads a protobuf JSON file written by the CLI, the server or save_*()."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise _os_error(e, path, 'cannot read') from None
    return parse_json(data, message_type, source=os.fspath(path))


def _under_dev_or_proc(path: str) -> bool:
    return path.startswith('/dev/') or path.startswith('/proc/')


def _reached_through_dev_or_proc(path: str) -> bool:
    """Whether `path` or a symbolic link on the way to its target is under
    /dev or /proc (/dev/stdout -> /proc/self/fd/1 -> a shell's redirect)."""
    current = path
    for _ in range(40):  # Linux's MAXSYMLINKS
        if _under_dev_or_proc(current):
            return True
        try:
            target = os.readlink(current)
        except OSError:
            return False
        current = (
            target if target.startswith('/') else os.path.join(os.path.dirname(current), target)
        )
    return False


def _not_replaced(path: str, mode: int) -> AutotmError:
    kind = (
        'a directory'
        if stat.S_ISDIR(mode)
        else 'a block device'
        if stat.S_ISBLK(mode)
        else 'a socket'
        if stat.S_ISSOCK(mode)
        else 'not a regular file'
    )
    return AutotmError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f'{path}: is {kind}; output goes only to a regular file (replaced '
        'atomically), a character device such as /dev/null, or a FIFO; not '
        'replaced',
    )


def _resolve_output(target: str):
    """(write_through, truncate, path) as client/common/proto_json.cc decides."""
    try:
        link_info = os.lstat(target)
    except FileNotFoundError:
        return False, False, target
    except OSError:
        return False, False, target  # open() of the temporary reports it
    mode = link_info.st_mode
    if stat.S_ISREG(mode):
        return False, False, target
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True, False, target
    if not stat.S_ISLNK(mode):
        raise _not_replaced(target, mode)
    try:
        mode = os.stat(target).st_mode
    except OSError as e:
        raise AutotmError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f'{target}: is a symbolic link whose target cannot be reached '
            f'({e.strerror}); not replaced',
        ) from None
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True, False, target
    if not stat.S_ISREG(mode):
        raise _not_replaced(target, mode)
    if _reached_through_dev_or_proc(target):
        return True, True, target
    return False, False, os.path.realpath(target)


def save_message(message: message_lib.Message, path: PathLike) -> None:
    """Writes to_json(message) to `path`, as the CLI's WriteFileAtomically.

    Nothing or a regular file at `path`: the text goes to a temporary file
    beside it, is flushed to disk and renamed over `path`, so readers see
    the old file or the complete new one, never a torn write. Permissions
    follow the umask; a symbolic link to a regular file stays a link and its
    target is replaced. A character device or FIFO (/dev/null, /dev/stdout,
    a pipe) is written straight through, never replaced. Anything else (a
    directory, socket, dangling link) is refused.

    Raises:
      AutotmError: NOT_FOUND for a missing directory, PERMISSION_DENIED,
        FAILED_PRECONDITION for a path that is not replaced, ... with the
        path in the message.
    """
    data = to_json(message).encode('utf-8')
    write_through, truncate, target = _resolve_output(os.fspath(path))
    if write_through:
        try:
            fd = os.open(
                target, os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY | (os.O_TRUNC if truncate else 0)
            )
        except OSError as e:
            raise _os_error(e, target, 'cannot open for writing') from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as e:
            raise _os_error(e, target, 'cannot write') from None
        finally:
            os.close(fd)
        return
    fd = -1
    temp = ''
    for _ in range(100):
        temp = f'{target}.tmp.{os.getpid()}.{next(_temp_counter)}'
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _os_error(e, target, 'cannot create a file beside it') from None
    if fd < 0:
        raise AutotmError(
            grpc.StatusCode.ALREADY_EXISTS, f'{target}: cannot create a temporary file'
        )
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except OSError as e:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise _os_error(e, target, 'cannot write') from None


def load_graph(path: PathLike) -> graph_pb2.Graph:
    """Reads an autotm.v1.Graph JSON file (e.g. from `autotm zoo export`)."""
    return load_message(path, graph_pb2.Graph)


def load_profile(path: PathLike) -> profile_pb2.Profile:
    """Reads an autotm.v1.Profile JSON file (e.g. `autotm profiles export`)."""
    return load_message(path, profile_pb2.Profile)


def load_plan(path: PathLike) -> plan_pb2.Plan:
    """Reads an autotm.v1.Plan JSON file (e.g. `autotm plan --out`)."""
    return load_message(path, plan_pb2.Plan)


def save_plan(plan: plan_pb2.Plan, path: PathLike) -> None:
    """Writes a plan as `autotm plan --out` does; `autotm verify` reads it."""
    save_message(plan, path)
