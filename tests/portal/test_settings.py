"""Configuration from the environment, exercised the way an operator does: in a new process."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG_VARS = {
    "DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SITE_URL",
    "SITE_NAME", "EMAIL_BACKEND", "EMAIL_HOST", "HTTPS", "REDIS_URL", "CACHE_URL", "VAR_DIR",
    "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_PREPARED_STATEMENTS",
}  # fmt: skip

SHOW = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "secret": s.SECRET_KEY, "db": s.DATABASES["default"], "email": s.EMAIL_BACKEND,
    "debug": s.DEBUG, "hosts": s.ALLOWED_HOSTS, "origins": s.CSRF_TRUSTED_ORIGINS,
    "cache": s.CACHES["default"]["BACKEND"], "site_name": s.SITE_NAME,
}, default=str))
"""


def run(args, var_dir, **env):
    environ = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    environ.update(DJANGO_SETTINGS_MODULE="portal.settings", VAR_DIR=str(var_dir), **env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


def settings_in(var_dir, **env):
    result = run(["-c", SHOW], var_dir, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_first_run_defaults(tmp_path):
    shown = settings_in(tmp_path)
    assert shown["debug"] is False
    assert shown["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert shown["db"]["NAME"] == str(tmp_path / "db.sqlite3")
    assert shown["email"] == "django.core.mail.backends.console.EmailBackend"
    # Shared by every worker: the database, not one process's memory.
    assert shown["cache"] == "django.core.cache.backends.db.DatabaseCache"
    assert set(shown["hosts"]) == {"localhost", "127.0.0.1", "[::1]"}


def test_generated_secret_key_is_kept_private_and_reused(tmp_path):
    first = settings_in(tmp_path)["secret"]
    second = settings_in(tmp_path)["secret"]
    assert first == second
    assert len(first) >= 50
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_secret_key_from_the_environment_wins_and_writes_nothing(tmp_path):
    assert settings_in(tmp_path, SECRET_KEY="from-the-environment")["secret"] == (
        "from-the-environment"
    )
    assert not (tmp_path / "secret_key").exists()


def test_values_from_the_environment(tmp_path):
    shown = settings_in(
        tmp_path,
        DATABASE_URL="postgres://portal:pw@db.internal:5432/portal",
        EMAIL_BACKEND="smtp",
        ALLOWED_HOSTS="nuget.example.com",
        SITE_URL="https://nuget.example.com",
        SITE_NAME="Contoso Packages",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DEBUG="true",
    )
    assert shown["db"]["ENGINE"] == "portal.postgresql"
    assert shown["db"]["HOST"] == "db.internal"
    assert shown["db"]["OPTIONS"] == {"prepare_threshold": 5}
    assert shown["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert shown["hosts"] == ["nuget.example.com"]
    assert shown["origins"] == ["https://nuget.example.com"]
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["site_name"] == "Contoso Packages"
    assert shown["debug"] is True


def test_a_bad_boolean_is_a_clear_error(tmp_path):
    result = run(["-c", SHOW], tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be true or false, not 'maybe'" in result.stderr


def test_check_deploy_is_clean_with_https_enabled(tmp_path):
    strong_key = "k" + os.urandom(40).hex()
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        SECRET_KEY=strong_key,
        HTTPS="true",
        ALLOWED_HOSTS="nuget.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_https(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        SECRET_KEY="k" + os.urandom(40).hex(),
        ALLOWED_HOSTS="nuget.example.com",
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


SILENT_REDIS = """
import time, django
django.setup()
from django.core.cache import cache
began = time.monotonic()
try:
    cache.get("probe")
except Exception as error:
    print(type(error).__name__, round(time.monotonic() - began, 1))
"""


def test_a_redis_that_never_answers_fails_a_request_within_seconds(tmp_path):
    # It accepts the connection (the kernel does, from the backlog) and says nothing.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        result = run(["-c", SILENT_REDIS], tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 0, result.stderr
    error, seconds = result.stdout.split()
    assert error == "TimeoutError"
    assert float(seconds) < 5


def test_prepared_statements_can_be_turned_off_for_an_old_pgbouncer(tmp_path):
    shown = settings_in(
        tmp_path,
        DATABASE_URL="postgres://portal:pw@pgbouncer.internal:6432/portal",
        DATABASE_PREPARED_STATEMENTS="false",
    )
    assert shown["db"]["ENGINE"] == "portal.postgresql"
    assert shown["db"]["OPTIONS"] == {}
