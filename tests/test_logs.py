"""Secret-redacting logging: every way a secret can reach a line ends redacted in the file."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from pathlib import Path

import boto3
import jwt
import pytest
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st

from kling_bridge import logs
from kling_bridge.config import Paths
from kling_bridge.credentials import KlingCredential
from kling_bridge.logs import REDACTED, add_secret, redact, redact_value, setup_logging

API_KEY = "kb-live-2f9e8d7c6b5a4f3e2d1c"
SECRET_KEY = "sk/with+slash=and-plus_Q8w7e6r5"
DAEMON_TOKEN = "daemon-token-b0c1d2e3f4a5b6c7d8e9"


@pytest.fixture
def paths() -> Paths:
    return Paths.resolve().ensure()


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    """Each test starts with no registered secrets and leaves the root logger as it was."""
    root = logging.getLogger()
    level = root.level
    logs.forget_secrets()
    yield
    logs.shutdown_logging()
    logs.forget_secrets()
    root.setLevel(level)


def _read(paths: Paths) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return paths.log_file.read_text(encoding="utf-8")


def _raise_with(secret: str) -> None:
    try:
        raise ConnectionError(f"upstream refused key {secret}")
    except ConnectionError as exc:
        raise RuntimeError(f"submit failed with credential {secret}") from exc


def test_secrets_are_redacted_at_every_level_and_in_every_part(paths: Paths) -> None:
    cred = KlingCredential(access_key="AKID-public-ish", secret_key=SECRET_KEY)
    log = setup_logging(paths, "DEBUG", secrets=[*cred.secrets(), API_KEY])
    add_secret(DAEMON_TOKEN)  # registered after setup, as the daemon does once it has one
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
                  logging.CRITICAL):
        name = logging.getLevelName(level)
        log.log(level, f"L-{name} in message {API_KEY}")
        log.log(level, "L-%s in args %s / %r", name, SECRET_KEY, DAEMON_TOKEN)
        log.log(level, "L-%(lvl)s in mapping %(key)s", {"lvl": name, "key": API_KEY})
        log.log(level, "L-%s in object %s", name, {"headers": {"X-Token": "opaque-value-1"},
                                                   "nested": [API_KEY]})
        log.log(level, "L-%s in stack", name, stack_info=True, extra={"k": SECRET_KEY})
        try:
            _raise_with(SECRET_KEY)
        except RuntimeError:
            log.log(level, "L-%s with traceback", name, exc_info=True)
    text = _read(paths)

    for secret in (API_KEY, SECRET_KEY, DAEMON_TOKEN, "opaque-value-1"):
        assert secret not in text
    for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        for what in ("in message", "in args", "in mapping", "in object", "in stack",
                     "with traceback"):
            assert f"L-{name} {what}" in text, (name, what)
    # The traceback itself is there (both chained exceptions), only the values are gone.
    assert text.count("ConnectionError: upstream refused key [REDACTED]") == 5
    assert text.count("RuntimeError: submit failed with credential [REDACTED]") == 5
    assert "Stack (most recent call last)" in text
    assert "'X-Token': '[REDACTED]'" in text


def test_secret_in_exception_logged_by_a_library_logger(paths: Paths) -> None:
    """Handlers sit on the root logger, so aiohttp/botocore lines are covered too."""
    setup_logging(paths, "INFO", secrets=[API_KEY])
    try:
        raise ValueError(f"bad header Authorization: Bearer {API_KEY}")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    logging.getLogger("aiohttp.access").info(
        '127.0.0.1 "GET /v1/jobs?token=%s HTTP/1.1" 200', DAEMON_TOKEN)
    text = _read(paths)
    assert API_KEY not in text and DAEMON_TOKEN not in text
    assert "aiohttp.server: Error handling request" in text
    assert "GET /v1/jobs?token=[REDACTED] HTTP/1.1" in text


def _presigned(signature_version: str) -> str:
    s3 = boto3.client(
        "s3", region_name="us-east-1", config=Config(signature_version=signature_version),
        aws_access_key_id="AKIAEXAMPLE0000",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        aws_session_token="FQoGZXIvYXdzEXAMPLESESSIONTOKEN")
    url: str = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "clips", "Key": "a/b.mp4"}, ExpiresIn=600)
    return url


@pytest.mark.parametrize(("version", "param"), [("s3v4", "X-Amz-Signature"),
                                                 ("s3", "Signature")])
def test_presigned_s3_urls_lose_their_signature(version: str, param: str) -> None:
    url = _presigned(version)  # real botocore signing, offline
    signature = re.search(rf"[?&]{param}=([^&]+)", url)
    assert signature is not None
    line = redact(f"hosting clip at {url} for 600 s")
    assert signature.group(1) not in line
    assert "FQoGZXIvYXdzEXAMPLESESSIONTOKEN" not in line
    assert f"{param}={REDACTED}" in line
    assert "hosting clip at https://clips.s3.amazonaws.com/a/b.mp4?" in line  # still useful


def test_unregistered_secret_shapes_are_redacted() -> None:
    token = jwt.encode({"iss": "AKID", "exp": 2_000_000_000},
                       "sk-unknown-to-us-0123456789abcdef0123", algorithm="HS256")
    line = redact(
        f"sent Authorization: Bearer {token} | jwt {token} | bearer {token[::-1]} | "
        f"link http://127.0.0.1:47822/m/clip.mp4?exp=9&sig=abcdef0123456789 | "
        f"cfg {{'api_key': 'k-123456789', \"secret_key\": \"s-987654321\"}} password=hunter22"
    )
    for leaked in (token, token[::-1], "abcdef0123456789", "k-123456789", "s-987654321",
                   "hunter22"):
        assert leaked not in line, leaked
    assert "sig=[REDACTED]" in line and "exp=9" in line
    assert "'api_key': '[REDACTED]'" in line and "password=[REDACTED]" in line
    assert f"jwt {REDACTED}" in line


def test_aws_authorization_header_is_redacted() -> None:
    header = ("Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE0000/20260101/us-east-1/"
              "s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "ab12" * 16)
    line = redact(header)
    assert "ab12ab12" not in line and "AKIAEXAMPLE0000" not in line
    assert "SignedHeaders=host" in line


def test_text_without_secrets_is_untouched() -> None:
    line = ("restyle job 42: clip A003_C012.mov 00:00:03:12 -> 24 fps, 1920x1080, "
            "preset film-noir, cost 35 units; GET /v1/jobs/42 200")
    assert redact(line) == line


def test_url_encoded_form_of_a_registered_secret_is_redacted() -> None:
    add_secret(SECRET_KEY)
    line = redact("callback?secret_hint=x&v=" + "sk%2Fwith%2Bslash%3Dand-plus_Q8w7e6r5")
    assert "Q8w7e6r5" not in line


def test_redact_value_never_mutates_its_input() -> None:
    body = {"prompt": "oil painting", "auth": {"api_key": API_KEY}, "list": [{"token": "t"}]}
    out = redact_value(body)
    assert out == {"prompt": "oil painting", "auth": {"api_key": REDACTED},
                   "list": [{"token": REDACTED}]}
    assert body["auth"] == {"api_key": API_KEY}


def test_short_values_are_not_registered() -> None:
    add_secret("abc")
    add_secret("")
    add_secret(None)
    assert redact("abc def") == "abc def"


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./+=", min_size=6,
                   max_size=64),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_any_registered_secret_disappears(secret: str, before: str, after: str) -> None:
    logs.forget_secrets()
    add_secret(secret)
    assert secret not in redact(before + secret + after)


def test_setup_is_idempotent_and_reconfigurable(paths: Paths, tmp_path: Path) -> None:
    setup_logging(paths, "INFO")
    setup_logging(paths, "info", console=True)
    log = setup_logging(paths, "INFO")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_kling_bridge_handler", 0)]
    assert len(ours) == 1
    log.info("exactly once")
    assert _read(paths).count("exactly once") == 1
    assert log.name == "kling_bridge"


def test_level_is_honoured_and_bad_level_is_named(paths: Paths) -> None:
    log = setup_logging(paths, "WARNING")
    log.info("hidden-line")
    log.warning("shown-line")
    text = _read(paths)
    assert "shown-line" in text and "hidden-line" not in text
    with pytest.raises(ValueError, match="'LOUD' is not one of DEBUG"):
        setup_logging(paths, "LOUD")


def test_console_handler_is_redacted_too(paths: Paths, capsys: pytest.CaptureFixture[str]) -> None:
    log = setup_logging(paths, "INFO", secrets=[API_KEY], console=True)
    log.error("console %s", API_KEY)
    err = capsys.readouterr().err
    assert "console [REDACTED]" in err and API_KEY not in err


def test_rotation_keeps_backups_redacted(paths: Paths) -> None:
    log = setup_logging(paths, "INFO", secrets=[API_KEY], max_bytes=2000, backups=2)
    for i in range(100):
        log.info("line %03d key=%s value %s", i, "x" * 10, API_KEY)
    files = sorted(paths.log_dir.glob("kling-bridge.log*"))
    assert [f.name for f in files] == ["kling-bridge.log", "kling-bridge.log.1",
                                       "kling-bridge.log.2"]
    for f in files:
        content = f.read_text()
        assert API_KEY not in content and REDACTED in content
        assert f.stat().st_size <= 2000
    assert "line 099" in _read(paths)


def test_unformattable_record_is_still_logged_without_its_args(paths: Paths) -> None:
    log = setup_logging(paths, "INFO", secrets=[API_KEY])
    # Our handler goes first, so even pytest's own capture handler (added before this
    # test body ran) receives the already-sanitized record instead of failing on it.
    assert getattr(logging.getLogger().handlers[0], "_kling_bridge_handler", False)
    log.info("two placeholders %s %s", API_KEY)  # a bug at a call site
    text = _read(paths)
    assert "two placeholders %s %s (unformattable args)" in text
    assert API_KEY not in text


def test_formatted_traceback_text_matches_python_shape(paths: Paths) -> None:
    """Redaction happens on the formatted text, so the traceback stays readable."""
    log = setup_logging(paths, "INFO", secrets=[SECRET_KEY])
    try:
        _raise_with(SECRET_KEY)
    except RuntimeError as exc:
        expected_tail = traceback.format_exception_only(exc)[-1].strip()
        log.exception("failed")
    text = _read(paths)
    assert expected_tail.replace(SECRET_KEY, REDACTED) in text
    assert "The above exception was the direct cause of the following exception" in text
