"""A real autotm-server as a child process, for the Python tests.

Runs `autotm-server --listen 127.0.0.1:0 --db DIR/NAME.db`, reads the port
from its "autotm-server listening on HOST:PORT" line, and stops it the way an
operator would (SIGTERM) or a crash would (SIGKILL); the child dies with the
test process. As tests/e2e/server_process.cc does for the C++ tests.
"""

from __future__ import annotations

import os
import pathlib
import select
import shutil
import signal
import subprocess
import time
from typing import Sequence

SERVER_BINARY = pathlib.Path(
    os.environ.get(
        'AUTOTM_SERVER_BINARY',
        pathlib.Path(__file__).resolve().parents[2] / 'build/server/autotm-server',
    )
)
LISTENING = 'autotm-server listening on '


class ServerProcess:
    """One autotm-server child process (as tests/e2e/server_process.cc)."""

    def __init__(
        self,
        directory: str,
        extra_args: Sequence[str] = (),
        listen: str = '127.0.0.1:0',
        name: str = 'server',
        delay: float = 0,
    ) -> None:
        """Starts the server (after `delay` seconds, in the child)."""
        self.log_path = os.path.join(directory, f'{name}.log')
        args = [
            str(SERVER_BINARY),
            '--listen',
            listen,
            '--db',
            os.path.join(directory, f'{name}.db'),
            *extra_args,
        ]
        # The server dies with this process, even when it is SIGKILLed.
        setpriv = shutil.which('setpriv')
        if setpriv:
            args = [setpriv, '--pdeathsig', 'KILL', '--', *args]
        if delay:
            args = ['/bin/sh', '-c', 'sleep "$0" && exec "$@"', str(delay), *args]
        with open(self.log_path, 'ab') as log:
            self.process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
            )
        self.address = ''

    def wait_listening(self, timeout: float = 30) -> str:
        """Reads stdout up to the "listening on" line; returns HOST:PORT."""
        end = time.monotonic() + timeout
        buffer = b''
        stdout = self.process.stdout
        try:
            while b'\n' not in buffer:
                left = end - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise AssertionError(
                        f'{SERVER_BINARY} did not print "{LISTENING}'
                        f'..." within {timeout} s; log:\n{self.log()}'
                    )
                ready, _, _ = select.select([stdout], [], [], left)
                if not ready:
                    continue
                chunk = os.read(stdout.fileno(), 4096)
                if not chunk:
                    code = self.process.wait(5)
                    raise AssertionError(
                        f'{SERVER_BINARY} exited with {code} before '
                        f'listening; log:\n{self.log()}'
                    )
                buffer += chunk
        finally:
            stdout.close()  # the server prints nothing else; it ignores SIGPIPE
        line = buffer.split(b'\n', 1)[0].decode()
        if not line.startswith(LISTENING):
            self.kill()
            raise AssertionError(f'unexpected start-up line: {line!r}')
        self.address = line[len(LISTENING) :]
        return self.address

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM; the exit code (128 + N when killed by signal N)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f'server still running {timeout} s after SIGTERM; ' f'killed; log:\n{self.log()}'
            ) from None
        return code if code >= 0 else 128 - code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        with open(self.log_path, errors='replace') as f:
            return f.read()


def start_server(
    directory: str, extra_args: Sequence[str] = (), name: str = 'server'
) -> ServerProcess:
    server = ServerProcess(directory, extra_args, name=name)
    server.wait_listening()
    return server
