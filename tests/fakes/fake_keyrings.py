"""Keyring backends for tests: in memory, one that can be locked (as a macOS keychain can), and one that
refuses what Windows Credential Manager refuses.

* ``MemoryKeyring`` - a dict; for in-process tests (``keyring.set_keyring(MemoryKeyring())``).
* ``LockableKeyring`` - a MemoryKeyring that raises ``keyring.errors.KeyringLocked`` on every call while
  ``locked`` is true, as keyring's macOS backend does when the keychain is locked or access is denied
  (``KeychainDenied`` becomes ``KeyringLocked``).
* ``CredentialManagerLike`` - a file keyring (keyrings.alt's plaintext one, so subprocesses share it; select it
  with ``PYTHON_KEYRING_BACKEND=fake_keyrings.CredentialManagerLike``) that refuses a value longer than 2,560
  bytes in UTF-16 the way Windows does: keyring's Windows backend stores the password as UTF-16-LE in the
  credential blob, ``CredWrite`` refuses a blob over ``CRED_MAX_CREDENTIAL_BLOB_SIZE`` (5 * 512 bytes) with
  error 1783 ("The stub received bad data"), and pywin32's ``pywintypes.error`` - not a keyring error - is
  what reaches the caller (keyring issue 355).
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError
from keyrings.alt.file import PlaintextKeyring

CRED_MAX_CREDENTIAL_BLOB_SIZE = 5 * 512


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.values.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class LockableKeyring(MemoryKeyring):
    def __init__(self) -> None:
        super().__init__()
        self.locked = False
        self.refused = 0

    def _check(self) -> None:
        if self.locked:
            self.refused += 1
            raise KeyringLocked("Can't get password from keychain: (-128, 'User canceled the operation.')")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        super().set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        super().delete_password(service, username)


class WindowsError1783(Exception):
    """What pywin32's ``pywintypes.error`` looks like: (winerror, funcname, strerror), not a KeyringError."""

    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror, self.funcname, self.strerror = winerror, funcname, strerror


class CredentialManagerLike(PlaintextKeyring):
    priority = 1  # type: ignore[assignment]

    def set_password(self, service: str, username: str, password: str) -> None:
        if len(password.encode("utf-16-le")) > CRED_MAX_CREDENTIAL_BLOB_SIZE:
            raise WindowsError1783(1783, "CredWrite", "The stub received bad data.")
        super().set_password(service, username, password)
