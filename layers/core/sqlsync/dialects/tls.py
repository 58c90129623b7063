"""TLS to a target database: an `ssl.SSLContext` built from a connector's `TlsOptions`.

Verification is verify-full (chain and host name) unless the connector turns it off. Certificates and keys
arrive as PEM text, never as files: the CA loads from memory; OpenSSL reads a client certificate and key
only from files, so they are written to a private temporary directory and removed once loaded.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from pathlib import Path

from sqlsync.dialects.connect import TlsOptions


def ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """A client context for `tls`; ValueError names the PEM (ca_pem, cert_pem or key_pem) that is unusable.

    Examples
    --------
    >>> ssl_context(TlsOptions()).verify_mode == ssl.CERT_REQUIRED
    True
    >>> ssl_context(TlsOptions(verify=False)).check_hostname
    False
    """
    # PROTOCOL_TLS_CLIENT starts at CERT_REQUIRED with check_hostname on, and TLS 1.2 at least.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.ca_pem is not None:
        _load_ca(context, tls.ca_pem)
    elif tls.verify:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if tls.cert_pem is not None or tls.key_pem is not None:
        _load_client_certificate(context, tls.cert_pem, tls.key_pem)
    return context


def _load_ca(context: ssl.SSLContext, ca_pem: str) -> None:
    try:
        context.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"ca_pem holds no usable PEM certificate ({_reason(exc)})") from exc


def _load_client_certificate(context: ssl.SSLContext, cert_pem: str | None, key_pem: str | None) -> None:
    if not cert_pem or not key_pem:
        missing = "key_pem" if cert_pem else "cert_pem"
        raise ValueError(f"a client certificate needs both cert_pem and key_pem; {missing} is missing")
    _check_certificate(cert_pem)
    with tempfile.TemporaryDirectory(prefix="sqlsync-tls-") as directory:  # mode 0o700
        cert_file = _write_private(Path(directory, "cert.pem"), cert_pem)
        key_file = _write_private(Path(directory, "key.pem"), key_pem)
        try:
            context.load_cert_chain(cert_file, key_file, password=_refuse_password)
        except _EncryptedKeyError:
            raise ValueError("key_pem is encrypted; give the private key unencrypted") from None
        except ssl.SSLError as exc:
            if "KEY_VALUES_MISMATCH" in str(exc):
                raise ValueError("key_pem is not the private key of cert_pem") from exc
            raise ValueError(f"key_pem holds no usable PEM private key ({_reason(exc)})") from exc


def _check_certificate(cert_pem: str) -> None:
    """Parse the client certificate on its own, so that a bad one is not reported as a bad key."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=cert_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"cert_pem holds no usable PEM certificate ({_reason(exc)})") from exc


def _write_private(path: Path, text: str) -> str:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii", errors="replace") as file:
        file.write(text)
    return str(path)


class _EncryptedKeyError(Exception):
    pass


def _refuse_password() -> str:
    # Called by OpenSSL only for an encrypted key; without it OpenSSL would prompt on the terminal.
    raise _EncryptedKeyError


def _reason(exc: BaseException) -> str:
    """OpenSSL's reason, e.g. "[SSL] PEM lib (_ssl.c:3900)" -> "PEM lib". OpenSSL names the failure and
    never echoes its input, so no key material reaches the message."""
    text = str(getattr(exc, "reason", None) or exc).split(" (_ssl.c", 1)[0]
    return re.sub(r"^\[\w+\]\s*", "", text)


class PemFiles:
    """The PEMs of `tls` as files, for a driver that takes only paths and reads them again for every new
    connection (clickhouse-connect through urllib3). Written once into a private directory (0o700, files
    0o600) that is removed when this object is collected, or at exit: keep it referenced while the driver may
    read them (a dialect's `driver_connect` closure lives as long as its engine).

    Examples
    --------
    >>> files = PemFiles(TlsOptions(ca_pem="-----BEGIN CERTIFICATE-----"))
    >>> oct(os.stat(files.ca_file).st_mode & 0o777), files.cert_file is None
    ('0o600', True)
    """

    def __init__(self, tls: TlsOptions) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="sqlsync-tls-")
        self.ca_file = self._write("ca.pem", tls.ca_pem)
        self.cert_file = self._write("cert.pem", tls.cert_pem)
        self.key_file = self._write("key.pem", tls.key_pem)

    def _write(self, name: str, pem: str | None) -> str | None:
        return None if pem is None else _write_private(Path(self._directory.name, name), pem)
