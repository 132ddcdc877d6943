"""Credentials: where they are read from, where they are kept, and that secrets stay secret.

The keyring path runs against ``FileKeyring``, a backend written on keyring's documented
extension point (``keyring.backend.KeyringBackend``) that persists to a JSON file, so the
real ``keyring`` machinery (username validation, ``set_keyring``/``get_keyring``) is in
the loop. This machine has no real backend: the "no keyring" tests use keyring's own
``fail.Keyring``, which is what ``keyring.get_keyring()`` returns here.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.compat.properties import classproperty

from kling_bridge.config import Paths
from kling_bridge.credentials import (
    KEYRING_SERVICE,
    KEYRING_USER,
    CredentialError,
    KlingCredential,
    delete_credential,
    describe,
    keyring_status,
    load_credential,
    parse_login_input,
    store_credential,
)

API_KEY = "kb-test-apikey-7f3a9c21e5d84b06"
ACCESS = "AKtest0123456789"
SECRET = "SKsecret-9b8e7d6c5b4a3f2e1d0c"


class FileKeyring(KeyringBackend):
    """A real, persistent keyring backend for tests (JSON file).

    Defining a subclass registers it with keyring; a priority that raises marks it not
    viable (keyring's documented convention), so keyring's auto-detection never picks it
    for another test in this process.
    """

    @classproperty
    def priority(cls) -> float:
        raise RuntimeError("test backend; select it explicitly")

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self.path.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise keyring.errors.PasswordDeleteError("not found")
        self.path.write_text(json.dumps(data))


class LockedKeyring(FileKeyring):
    """Like Secret Service without a D-Bus session: present, but every call fails."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("collection is locked")


class PlaintextKeyring(FileKeyring):
    """Named like keyrings.alt's unencrypted backend."""


@pytest.fixture
def paths() -> Paths:
    return Paths.resolve().ensure()


@pytest.fixture
def kr(tmp_path: Path) -> FileKeyring:
    return FileKeyring(tmp_path / "keyring.json")


@pytest.fixture
def global_keyring() -> Iterator[None]:
    """Restore keyring's process-wide backend after a test that sets it."""
    before = keyring.get_keyring()
    yield
    keyring.set_keyring(before)


def _all_messages(exc: CredentialError) -> str:
    return f"{exc} | {exc.message} | {exc.hint} | {exc!r}"


# -- environment ---------------------------------------------------------------------


def test_env_api_key_wins_over_keyring_and_file(paths: Paths, kr: FileKeyring) -> None:
    store_credential(KlingCredential(api_key="from-keyring-key"), paths, keyring_backend=kr)
    cred = load_credential(paths, {"KLING_API_KEY": API_KEY}, keyring_backend=kr)
    assert (cred.api_key, cred.source, cred.kind, cred.standard) == (
        API_KEY, "environment", "api_key", "new")


def test_env_access_pair_selects_legacy_standard(paths: Paths) -> None:
    cred = load_credential(
        paths, {"KLING_ACCESS_KEY": ACCESS, "KLING_SECRET_KEY": SECRET},
        keyring_backend=fail.Keyring())
    assert (cred.access_key, cred.secret_key) == (ACCESS, SECRET)
    assert (cred.kind, cred.standard, cred.source) == ("access_key", "legacy", "environment")


@pytest.mark.parametrize(("env", "missing"), [
    ({"KLING_ACCESS_KEY": ACCESS}, "KLING_SECRET_KEY"),
    ({"KLING_SECRET_KEY": SECRET}, "KLING_ACCESS_KEY"),
    ({"KLING_SECRET_KEY": SECRET, "KLING_ACCESS_KEY": "  "}, "KLING_ACCESS_KEY"),
])
def test_half_a_pair_names_the_missing_variable(
    paths: Paths, env: dict[str, str], missing: str
) -> None:
    with pytest.raises(CredentialError) as info:
        load_credential(paths, env, keyring_backend=fail.Keyring())
    assert f"{missing} is not" in info.value.message
    assert SECRET not in _all_messages(info.value)
    assert ACCESS not in _all_messages(info.value)


def test_empty_environment_values_count_as_unset(paths: Paths) -> None:
    cred = load_credential(paths, {"KLING_API_KEY": "", "KLING_ACCESS_KEY": " "},
                           keyring_backend=fail.Keyring())
    assert (cred.configured, cred.source, cred.kind) == (False, "none", "none")


def test_default_env_is_os_environ(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_API_KEY", API_KEY)
    assert load_credential(paths, keyring_backend=fail.Keyring()).api_key == API_KEY


# -- keyring -------------------------------------------------------------------------


def test_store_and_load_through_keyring(paths: Paths, kr: FileKeyring) -> None:
    cred = KlingCredential(access_key=ACCESS, secret_key=SECRET)
    assert store_credential(cred, paths, keyring_backend=kr) == "keyring"
    assert not paths.credentials_file.exists()
    # A fresh backend object over the same store: it persisted, as one JSON entry.
    reopened = FileKeyring(kr.path)
    raw = reopened.get_password(KEYRING_SERVICE, KEYRING_USER)
    assert raw is not None and json.loads(raw) == {"access_key": ACCESS, "secret_key": SECRET}
    loaded = load_credential(paths, {}, keyring_backend=reopened)
    assert (loaded.access_key, loaded.secret_key, loaded.source) == (ACCESS, SECRET, "keyring")


def test_new_login_replaces_the_other_kind(paths: Paths, kr: FileKeyring) -> None:
    store_credential(KlingCredential(access_key=ACCESS, secret_key=SECRET), paths,
                     keyring_backend=kr)
    store_credential(KlingCredential(api_key=API_KEY), paths, keyring_backend=kr)
    loaded = load_credential(paths, {}, keyring_backend=kr)
    assert (loaded.kind, loaded.api_key, loaded.secret_key) == ("api_key", API_KEY, None)


def test_process_wide_keyring_is_used_by_default(
    paths: Paths, kr: FileKeyring, global_keyring: None
) -> None:
    keyring.set_keyring(kr)
    assert keyring_status().usable
    assert store_credential(KlingCredential(api_key=API_KEY), paths) == "keyring"
    assert load_credential(paths, {}).source == "keyring"
    assert delete_credential(paths) == ["keyring"]


def test_bare_key_set_by_hand_in_keyring_is_an_api_key(paths: Paths, kr: FileKeyring) -> None:
    kr.set_password(KEYRING_SERVICE, KEYRING_USER, f"  {API_KEY}\n")
    cred = load_credential(paths, {}, keyring_backend=kr)
    assert (cred.api_key, cred.source) == (API_KEY, "keyring")


def test_corrupt_keyring_entry_is_reported_without_its_content(
    paths: Paths, kr: FileKeyring
) -> None:
    kr.set_password(KEYRING_SERVICE, KEYRING_USER, '{"api_key": "' + API_KEY)
    with pytest.raises(CredentialError) as info:
        load_credential(paths, {}, keyring_backend=kr)
    assert "keyring entry kling-bridge/default" in info.value.message
    assert "logout" in info.value.hint
    assert API_KEY not in _all_messages(info.value)


def test_keyring_status_detects_the_missing_backend() -> None:
    usable, backend, why = keyring_status(fail.Keyring())
    assert not usable
    assert backend == "keyring.backends.fail.Keyring"
    assert "headless" in why


def test_keyring_status_of_this_machine_matches_a_real_write() -> None:
    """Whatever keyring picked here, 'usable' must agree with what a write actually does."""
    usable, _, _ = keyring_status()
    if usable:  # pragma: no cover - this CI machine has no backend
        pytest.skip("a keyring backend exists on this machine")
    with pytest.raises(keyring.errors.KeyringError):
        keyring.get_keyring().set_password("kling-bridge-test", "probe", "x")


def test_keyring_that_does_not_answer_is_unusable(tmp_path: Path) -> None:
    usable, backend, why = keyring_status(LockedKeyring(tmp_path / "k.json"))
    assert not usable
    assert backend.endswith("LockedKeyring")
    assert "KeyringLocked" in why


def test_plaintext_backend_is_not_written_without_opt_in(paths: Paths, tmp_path: Path) -> None:
    plain = PlaintextKeyring(tmp_path / "plain.json")
    usable, _, why = keyring_status(plain)
    assert not usable and "unencrypted" in why
    with pytest.raises(CredentialError):
        store_credential(KlingCredential(api_key=API_KEY), paths, keyring_backend=plain)
    assert not plain.path.exists()
    # ...but what the user put there themselves is still read.
    plain.set_password(KEYRING_SERVICE, KEYRING_USER, json.dumps({"api_key": API_KEY}))
    assert load_credential(paths, {}, keyring_backend=plain).source == "keyring"


def test_locked_keyring_is_skipped_when_loading(paths: Paths, tmp_path: Path) -> None:
    cred = load_credential(paths, {}, keyring_backend=LockedKeyring(tmp_path / "k.json"))
    assert cred.source == "none"


def test_keyring_write_failure_stores_nothing_unless_opted_in(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kr = FileKeyring(tmp_path / "k.json")

    def refuse(service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("denied by policy")

    monkeypatch.setattr(kr, "set_password", refuse)
    with pytest.raises(CredentialError) as info:
        store_credential(KlingCredential(api_key=API_KEY), paths, keyring_backend=kr)
    assert "Nothing was stored" in info.value.message
    assert not paths.credentials_file.exists()
    assert store_credential(KlingCredential(api_key=API_KEY), paths, allow_file=True,
                            keyring_backend=kr) == "file"


# -- no keyring: refuse, or the opt-in 0600 file --------------------------------------


def test_no_keyring_stores_nothing_and_says_what_to_do(paths: Paths) -> None:
    with pytest.raises(CredentialError) as info:
        store_credential(KlingCredential(api_key=API_KEY), paths, keyring_backend=fail.Keyring())
    text = _all_messages(info.value)
    assert "No keyring backend works on this machine" in info.value.message
    assert "Nothing was stored" in info.value.message
    assert "KLING_API_KEY" in info.value.hint and "--insecure-file" in info.value.hint
    assert str(paths.credentials_file) in info.value.hint
    assert API_KEY not in text
    assert not paths.credentials_file.exists()
    assert list(paths.config_dir.iterdir()) == []


def test_opt_in_file_is_private_from_creation(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under umask 0 a plain open() would make a 0666 file; ours is 0600 before the rename."""
    seen: list[int] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old = os.umask(0)
    try:
        where = store_credential(KlingCredential(access_key=ACCESS, secret_key=SECRET), paths,
                                 allow_file=True, keyring_backend=fail.Keyring())
    finally:
        os.umask(old)
    assert where == "file"
    assert seen == [0o600]
    assert stat.S_IMODE(paths.credentials_file.stat().st_mode) == 0o600
    assert [p.name for p in paths.config_dir.iterdir()] == ["credentials.json"]  # no temp left
    cred = load_credential(paths, {}, keyring_backend=fail.Keyring())
    assert (cred.access_key, cred.secret_key, cred.source) == (ACCESS, SECRET, "file")


def test_opt_in_file_replaces_an_existing_one(paths: Paths) -> None:
    for key in ("first-key-000", API_KEY):
        store_credential(KlingCredential(api_key=key), paths, allow_file=True,
                         keyring_backend=fail.Keyring())
    assert load_credential(paths, {}, keyring_backend=fail.Keyring()).api_key == API_KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_loose_file_is_refused(paths: Paths, mode: int) -> None:
    store_credential(KlingCredential(api_key=API_KEY), paths, allow_file=True,
                     keyring_backend=fail.Keyring())
    paths.credentials_file.chmod(mode)
    with pytest.raises(CredentialError) as info:
        load_credential(paths, {}, keyring_backend=fail.Keyring())
    assert str(paths.credentials_file) in info.value.message
    assert "chmod 600" in info.value.hint
    assert API_KEY not in _all_messages(info.value)


@pytest.mark.parametrize(("content", "expect"), [
    ("{not json", "could not be read as JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (json.dumps({"access_key": ACCESS}), "no secret_key"),
    (json.dumps({"api_key": API_KEY, "secret_key": SECRET}), "both"),
])
def test_broken_file_is_named_in_the_error(paths: Paths, content: str, expect: str) -> None:
    fd = os.open(paths.credentials_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content.encode())
    os.close(fd)
    with pytest.raises(CredentialError) as info:
        load_credential(paths, {}, keyring_backend=fail.Keyring())
    assert expect in info.value.message
    assert str(paths.credentials_file) in info.value.message
    assert API_KEY not in _all_messages(info.value)
    assert SECRET not in _all_messages(info.value)


def test_nothing_configured(paths: Paths) -> None:
    cred = load_credential(paths, {}, keyring_backend=fail.Keyring())
    assert cred == KlingCredential(source="none")


def test_storing_an_empty_credential_is_refused(paths: Paths, kr: FileKeyring) -> None:
    with pytest.raises(CredentialError):
        store_credential(KlingCredential(), paths, keyring_backend=kr)


# -- logout --------------------------------------------------------------------------


def test_delete_removes_every_stored_copy(paths: Paths, kr: FileKeyring) -> None:
    store_credential(KlingCredential(api_key=API_KEY), paths, keyring_backend=kr)
    store_credential(KlingCredential(api_key=API_KEY), paths, allow_file=True,
                     keyring_backend=fail.Keyring())
    assert delete_credential(paths, keyring_backend=kr) == ["keyring", "file"]
    assert kr.get_password(KEYRING_SERVICE, KEYRING_USER) is None
    assert not paths.credentials_file.exists()
    assert delete_credential(paths, keyring_backend=kr) == []
    assert delete_credential(paths, keyring_backend=fail.Keyring()) == []


def test_delete_reports_a_keyring_that_will_not_let_go(paths: Paths, tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as info:
        delete_credential(paths, keyring_backend=LockedKeyring(tmp_path / "k.json"))
    assert "could not be removed" in info.value.message


# -- what may be shown ---------------------------------------------------------------


def _fragments(secret: str, size: int = 4) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


@pytest.mark.parametrize("cred", [
    KlingCredential(api_key=API_KEY, source="keyring"),
    KlingCredential(access_key=ACCESS, secret_key=SECRET, source="environment"),
])
def test_describe_and_repr_hold_no_part_of_a_secret(cred: KlingCredential) -> None:
    info = describe(cred)
    assert set(info) == {"configured", "kind", "source", "standard"}
    assert info["configured"] is True and info["source"] == cred.source
    shown = json.dumps(info) + repr(cred) + str(cred)
    for secret in cred.secrets():
        assert not any(frag in shown for frag in _fragments(secret)), shown


def test_describe_unconfigured() -> None:
    assert describe(KlingCredential()) == {
        "configured": False, "kind": "none", "source": "none", "standard": None}


# -- login --from-stdin --------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (f"{API_KEY}\n", KlingCredential(api_key=API_KEY, source="login")),
    (f"\n  {API_KEY}  \r\n\n", KlingCredential(api_key=API_KEY, source="login")),
    (f"{ACCESS}\n{SECRET}\n", KlingCredential(access_key=ACCESS, secret_key=SECRET,
                                              source="login")),
    (f"{ACCESS}:{SECRET}", KlingCredential(access_key=ACCESS, secret_key=SECRET,
                                           source="login")),
    (json.dumps({"access_key": ACCESS, "secret_key": SECRET}),
     KlingCredential(access_key=ACCESS, secret_key=SECRET, source="login")),
    (json.dumps({"api_key": API_KEY}), KlingCredential(api_key=API_KEY, source="login")),
])
def test_login_input_shapes(text: str, expected: KlingCredential) -> None:
    assert parse_login_input(text) == expected


@pytest.mark.parametrize(("text", "expect"), [
    ("", "Nothing was read"),
    ("  \n\t\n ", "Nothing was read"),
    (f"{ACCESS}\n{SECRET}\n{API_KEY}", "expected one or two lines, got 3"),
    (f"{ACCESS}:", "has access_key but no secret_key"),
    (f":{SECRET}", "has secret_key but no access_key"),
    (f"{SECRET} {API_KEY}", "contains whitespace"),
    ('{"api_key": "' + API_KEY + '"', "not valid JSON"),
    (json.dumps([API_KEY]), "JSON must be an object"),
    (json.dumps({"access_key": ACCESS}), "no secret_key"),
    (json.dumps({"secret_key": SECRET}), "no access_key"),
    (json.dumps({"api_key": API_KEY, "access_key": ACCESS}), "both"),
    (json.dumps({"apikey": API_KEY}), "unknown JSON field(s) apikey"),
    (json.dumps({"api_key": 12345}), "api_key must be a string"),
])
def test_login_input_errors_are_clear_and_never_echo_the_input(text: str, expect: str) -> None:
    with pytest.raises(CredentialError) as info:
        parse_login_input(text)
    assert expect in info.value.message
    assert info.value.hint  # every refusal says what to do
    shown = _all_messages(info.value)
    for secret in (API_KEY, SECRET):
        assert secret not in shown
