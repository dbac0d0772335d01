"""autotm.Client over TLS, with tokens and client certificates, against the
real autotm-server (docs/SECURITY.md).

The PKI is made at run time by tests/e2e/make_test_pki.sh (openssl CLI).
Covered: the happy path over TLS with a token; a plaintext client and a
client trusting another CA are refused; mutual TLS without a client
certificate is refused and with one the certificate's CN is the principal;
the AUTOTM_TLS_* / AUTOTM_TOKEN environment variables; a token without TLS
is refused by the client; PERMISSION_DENIED and UNAUTHENTICATED come back
as AutotmError with those codes.

  cd tests/python && PYTHONPATH=../../build/python \\
      /usr/bin/python3 -m unittest -v security_test
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import tempfile
import unittest
from unittest import mock

import grpc

import autotm
from server_process import start_server

SOURCE_DIR = pathlib.Path(
    os.environ.get('AUTOTM_SOURCE_DIR') or pathlib.Path(__file__).resolve().parents[2]
)
Code = grpc.StatusCode


def token_line(token: str, principal: str, roles: str) -> str:
    return f'sha256:{hashlib.sha256(token.encode()).hexdigest()} {principal} {roles}\n'


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = cls._tmp.name
        cls.pki = os.path.join(cls.dir, 'pki')
        subprocess.run(
            ['bash', str(SOURCE_DIR / 'tests' / 'e2e' / 'make_test_pki.sh'), cls.pki],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tokens = os.path.join(cls.dir, 'tokens')
        with open(tokens, 'w') as f:
            f.write(token_line('py-planner', 'alice', 'planner'))
            f.write(token_line('py-operator', 'root', 'operator'))
            f.write('cn:alice-cert certuser reader\n')
        tls = ['--tls-cert', cls.file('server.pem'), '--tls-key', cls.file('server.key')]
        cls.server = start_server(cls.dir, [*tls, '--tokens', tokens], name='tls')
        cls.mtls = start_server(
            cls.dir,
            [*tls, '--tokens', tokens, '--tls-client-ca', cls.file('ca.pem')],
            name='mtls',
        )

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            assert cls.server.terminate() == 0, cls.server.log()
            assert cls.mtls.terminate() == 0, cls.mtls.log()
        finally:
            cls._tmp.cleanup()

    @classmethod
    def file(cls, name: str) -> str:
        return os.path.join(cls.pki, name)

    def client(self, address: str, **kwargs) -> autotm.Client:  # type: ignore[no-untyped-def]
        kwargs.setdefault('max_attempts', 1)
        kwargs.setdefault('deadline', 20)
        client = autotm.Client(address, **kwargs)
        self.addCleanup(client.close)
        return client

    def test_tls_with_a_token_works(self) -> None:
        client = self.client(self.server.address, tls_ca=self.file('ca.pem'), token='py-operator')
        self.assertTrue(client.health())
        self.assertEqual(client.list_host_classes(), [])
        self.assertEqual(len(client.list_jobs().jobs), 0)
        info = client.server_info()
        self.assertEqual(info.principal, 'root')
        self.assertEqual(list(info.roles), ['operator'])
        self.assertTrue(info.tls and info.authentication)
        self.assertFalse(info.insecure)

    def test_plaintext_and_wrong_ca_are_refused(self) -> None:
        with mock.patch.dict(os.environ, {}, clear=False):
            for name in ('AUTOTM_TLS_CA', 'AUTOTM_TOKEN', 'AUTOTM_TOKEN_FILE'):
                os.environ.pop(name, None)
            plaintext = self.client(self.server.address)
            with self.assertRaises(autotm.AutotmError) as error:
                plaintext.list_host_classes()
            self.assertEqual(error.exception.code, Code.UNAVAILABLE)
        wrong = self.client(self.server.address, tls_ca=self.file('other-ca.pem'))
        with self.assertRaises(autotm.AutotmError) as error:
            wrong.list_host_classes()
        self.assertEqual(error.exception.code, Code.UNAVAILABLE)

    def test_roles_come_back_as_error_codes(self) -> None:
        anonymous = self.client(self.server.address, tls_ca=self.file('ca.pem'))
        with self.assertRaises(autotm.AutotmError) as error:
            anonymous.list_jobs()
        self.assertEqual(error.exception.code, Code.UNAUTHENTICATED)
        planner = self.client(self.server.address, tls_ca=self.file('ca.pem'), token='py-planner')
        with self.assertRaises(autotm.AutotmError) as error:
            planner.delete_host_class('anything')
        self.assertEqual(error.exception.code, Code.PERMISSION_DENIED)
        self.assertIn('alice', str(error.exception))

    def test_mutual_tls(self) -> None:
        no_cert = self.client(self.mtls.address, tls_ca=self.file('ca.pem'), token='py-operator')
        with self.assertRaises(autotm.AutotmError) as error:
            no_cert.list_host_classes()
        self.assertEqual(error.exception.code, Code.UNAVAILABLE)
        cert = self.client(
            self.mtls.address,
            tls_ca=self.file('ca.pem'),
            tls_cert=self.file('client.pem'),
            tls_key=self.file('client.key'),
        )
        # certuser is a reader: it may list, not plan.
        self.assertEqual(cert.list_host_classes(), [])
        with self.assertRaises(autotm.AutotmError) as error:
            cert.get_job('job-000001')
        self.assertEqual(error.exception.code, Code.PERMISSION_DENIED)
        self.assertIn('certuser', str(error.exception))

    def test_environment_variables(self) -> None:
        token_file = os.path.join(self.dir, 'operator.token')
        with open(token_file, 'w') as f:
            f.write('py-operator\n')
        env = {'AUTOTM_TLS_CA': self.file('ca.pem'), 'AUTOTM_TOKEN_FILE': token_file}
        with mock.patch.dict(os.environ, env):
            client = self.client(self.server.address)
            self.assertTrue(client.health())
            self.assertEqual(client.list_host_classes(), [])
        with mock.patch.dict(
            os.environ, {'AUTOTM_TLS_CA': self.file('ca.pem'), 'AUTOTM_TOKEN': 'py-planner'}
        ):
            os.environ.pop('AUTOTM_TOKEN_FILE', None)
            planner = self.client(self.server.address)
            with self.assertRaises(autotm.AutotmError) as error:
                planner.export_profile('x')
            self.assertEqual(error.exception.code, Code.PERMISSION_DENIED)

    def test_provenance_and_drop(self) -> None:
        operator = self.client(self.server.address, tls_ca=self.file('ca.pem'), token='py-operator')
        profile = autotm.load_profile(
            str(SOURCE_DIR / 'tests' / 'testdata' / 'example_cnn.profile.json')
        )
        profile.host_class.name = 'py-provenance'
        accepted = operator.upload_profile(profile).accepted
        self.assertGreater(accepted, 0)
        summary = operator.get_host_class('py-provenance')
        self.assertEqual(
            [(c.principal, c.measurements) for c in summary.contributions], [('root', accepted)]
        )
        dropped = operator.drop_measurements('py-provenance', 'root')
        self.assertEqual(dropped.removed, accepted)
        self.assertEqual(len(operator.get_host_class('py-provenance').contributions), 0)
        operator.delete_host_class('py-provenance')

    def test_a_token_needs_tls(self) -> None:
        with mock.patch.dict(os.environ, {}):
            os.environ.pop('AUTOTM_TLS_CA', None)
            with self.assertRaises(autotm.AutotmError) as error:
                autotm.Client('127.0.0.1:1', token='secret')
            self.assertEqual(error.exception.code, Code.INVALID_ARGUMENT)
            with self.assertRaises(autotm.AutotmError) as error:
                autotm.Client('127.0.0.1:1', tls_cert=self.file('client.pem'))
            self.assertEqual(error.exception.code, Code.INVALID_ARGUMENT)


if __name__ == '__main__':
    unittest.main()
