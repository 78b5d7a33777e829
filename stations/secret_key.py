"""The key that signs session cookies: SECRET_KEY when set (and strong), else one generated once
and kept in the instance folder.

There is no built-in default: a key anyone can read in the source or guess lets them sign a
session cookie that logs them in as any account.
"""

import os
import re
import secrets

FILE_NAME = "secret_key"
MIN_LENGTH = 32
# Keys seen in tutorials, templates and .env examples, compared without case or punctuation.
PLACEHOLDERS = frozenset(
    re.sub(r"[^a-z0-9]", "", word)
    for word in (
        "dev",
        "development",
        "test",
        "testing",
        "secret",
        "secret-key",
        "secretkey",
        "my-secret-key",
        "your-secret-key",
        "your-secret-key-here",
        "super-secret-key",
        "supersecret",
        "change-me",
        "changeme",
        "change-this",
        "change-this-secret-key",
        "please-change-me",
        "replace-me",
        "insecure",
        "not-secret",
        "default",
        "password",
        "flask",
        "example",
        "xxx",
    )
)
_HOW_TO = (
    "set SECRET_KEY to at least 32 random characters (for example the output of "
    "`python -c 'import secrets; print(secrets.token_hex(32))'`), the same on every app server; "
    "or unset it to use a key generated in the instance folder"
)


class SecretKeyError(RuntimeError):
    """The configured signing key is one an attacker could know or guess."""


def check(key, *, where="SECRET_KEY"):
    """Raise SecretKeyError unless `key` is long, not a known placeholder and not repetitive."""
    key = key.decode() if isinstance(key, bytes) else str(key)
    if re.sub(r"[^a-z0-9]", "", key.lower()) in PLACEHOLDERS:
        raise SecretKeyError(f"{where} is a well-known placeholder ({key!r}): {_HOW_TO}.")
    if len(key) < MIN_LENGTH:
        raise SecretKeyError(f"{where} is too short ({len(key)} characters): {_HOW_TO}.")
    if len(set(key)) < 8:  # "aaaa…", "abcabc…": long but guessable
        raise SecretKeyError(f"{where} repeats a few characters only: {_HOW_TO}.")


def instance_key(instance_path):
    """The key kept in `instance_path`, created (mode 0600) by whichever process comes first."""
    path = os.path.join(instance_path, FILE_NAME)
    if not os.path.exists(path):
        try:
            _create(path)
        except OSError as error:
            raise SecretKeyError(
                f"SECRET_KEY is not set, and no generated key can be kept in {path} ({error}): "
                "set SECRET_KEY to at least 32 random characters, the same on every app server."
            ) from error
    try:
        with open(path) as kept:
            key = kept.read().strip()
    except OSError as error:  # such as a file that another user's command created
        raise SecretKeyError(
            f"SECRET_KEY is not set, and the generated key in {path} cannot be read ({error}): "
            "make that file the app's own (mode 0600), or set SECRET_KEY."
        ) from error
    check(key, where=path)
    return key


def _create(path):
    """Write a new key to `path` unless another process does so first.

    Every gunicorn worker starts the app, maybe at the same moment: each writes its own
    candidate to a private temporary file and hard-links it into place, which only the first
    can do (a link never replaces a file); then all read the one file that is there.
    """
    temporary = f"{path}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as candidate:
            candidate.write(secrets.token_hex(32) + "\n")
            candidate.flush()
            os.fsync(candidate.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process came first: its key is the one
    finally:
        os.unlink(temporary)


def init_app(app):
    """Refuse a weak SECRET_KEY; with none, use (or create) the instance folder's key."""
    if app.config.get("SECRET_KEY"):
        check(app.config["SECRET_KEY"])
    else:
        app.config["SECRET_KEY"] = instance_key(app.instance_path)
