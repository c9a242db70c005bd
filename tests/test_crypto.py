"""connections/crypto.py and `manage.py rotate_secrets`: a key rotated without downtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client

from connections import crypto
from connections.models import ApiClient
from sandbox import ORGS_BY_SLUG
from tests.conftest import body_of

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
OTHER = Fernet.generate_key().decode()


def rotate() -> str:
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    return out.getvalue()


def test_crypto_newest_key_encrypts_any_key_decrypts(settings) -> None:
    settings.FERNET_KEYS = [OLD]
    under_old = crypto.encrypt("s3cret")
    settings.FERNET_KEYS = [NEW, OLD]
    under_new = crypto.encrypt("s3cret")
    assert crypto.decrypt(under_old) == crypto.decrypt(under_new) == "s3cret"
    assert crypto.uses_newest_key(under_new) and not crypto.uses_newest_key(under_old)
    settings.FERNET_KEYS = [NEW]
    assert crypto.decrypt(under_new) == "s3cret"
    with pytest.raises(crypto.SecretUnreadable) as info:
        crypto.decrypt(under_old)
    assert "s3cret" not in str(info.value) and under_old not in str(info.value)


def test_rotate_secrets_old_key_to_new(settings, demo_client: ApiClient) -> None:
    plaintext = ORGS_BY_SLUG["demo-lender"].client_secret
    settings.FERNET_KEYS = [OLD]
    demo_client.set_secret(plaintext)
    demo_client.save()
    settings.FERNET_KEYS = [NEW]
    with pytest.raises(crypto.SecretUnreadable):
        ApiClient.objects.get(pk=demo_client.pk).secret()  # the new key alone: not yet
    settings.FERNET_KEYS = [NEW, OLD]
    output = rotate()
    assert "Re-encrypted 1 API client secret(s) with the newest key; 0 already used it." in output
    settings.FERNET_KEYS = [NEW]  # the old key is gone
    assert ApiClient.objects.get(pk=demo_client.pk).secret() == plaintext
    for leak in (plaintext, OLD, NEW, demo_client.secret_ciphertext):
        assert leak not in output


def test_rotate_secrets_is_idempotent(settings, demo_client, harbor_client) -> None:
    settings.FERNET_KEYS = [OLD]
    for client in (demo_client, harbor_client):
        client.set_secret(f"secret of {client.name}")
        client.save()
    settings.FERNET_KEYS = [NEW, OLD]
    assert "Re-encrypted 2 API client secret(s)" in rotate()
    after_first = dict(ApiClient.objects.values_list("pk", "secret_ciphertext"))
    updated = dict(ApiClient.objects.values_list("pk", "updated_at"))
    assert "Re-encrypted 0 API client secret(s) with the newest key; 2 already used it." in rotate()
    assert dict(ApiClient.objects.values_list("pk", "secret_ciphertext")) == after_first
    assert dict(ApiClient.objects.values_list("pk", "updated_at")) == updated
    settings.FERNET_KEYS = [NEW]
    assert [c.secret() for c in ApiClient.objects.order_by("pk")] == [
        f"secret of {demo_client.name}",
        f"secret of {harbor_client.name}",
    ]


def test_rotate_secrets_reports_a_secret_no_key_reads(settings, demo_client, harbor_client) -> None:
    settings.FERNET_KEYS = [OTHER]
    harbor_client.set_secret("lost with its key")
    harbor_client.save()
    settings.FERNET_KEYS = [OLD]
    demo_client.set_secret("still readable")
    demo_client.save()
    settings.FERNET_KEYS = [NEW, OLD]
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("rotate_secrets", stdout=out)
    assert f"API client ids {harbor_client.pk})" in str(info.value)
    assert "Re-encrypted 1 API client secret(s)" in out.getvalue()  # the others were done
    assert "lost with its key" not in str(info.value) + out.getvalue()
    settings.FERNET_KEYS = [NEW]
    assert ApiClient.objects.get(pk=demo_client.pk).secret() == "still readable"


def test_rotate_secrets_site_works_between_the_steps(
    settings, alice: Client, demo_client, harbor_client
) -> None:
    """New key first, old key still listed: the site reads every secret before the rotation
    and after it (no downtime)."""
    settings.FERNET_KEYS = [OLD]
    for client, slug in ((demo_client, "demo-lender"), (harbor_client, "harbor-finance")):
        client.set_secret(ORGS_BY_SLUG[slug].client_secret)
        client.save()
    settings.FERNET_KEYS = [NEW, OLD]
    before = alice.get(f"/connections/?ctx={demo_client.pk}")
    assert before.status_code == 200
    assert 'id="results"' in body_of(before)
    rotate()
    settings.FERNET_KEYS = [NEW]
    after = alice.get(f"/connections/?ctx={demo_client.pk}")
    assert after.status_code == 200
    assert 'id="results"' in body_of(after)


# --- the settings: FERNET_KEYS, FERNET_KEY, a bad key -----------------------------------

ROOT = Path(__file__).resolve().parent.parent
READ = "import json; from hostadmin import settings; print(json.dumps(settings.FERNET_KEYS))"
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-production-key-of-50-or-more-characters-0123456789",
    "ALLOWED_HOSTS": "hostadmin.example",
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/d",
    "UPSTREAM_BASE_URL": "https://api.example/v1-beta",
    "REDIS_URL": "redis://127.0.0.1:1/0",  # never connected to
}


def settings_in(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FERNET_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", READ],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_settings_fernet_keys_newest_first() -> None:
    done = settings_in({"FERNET_KEYS": f"{NEW}, {OLD}"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [NEW, OLD]


def test_settings_fernet_key_alone_still_accepted() -> None:
    done = settings_in({"FERNET_KEY": OLD})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [OLD]


def test_settings_production_needs_fernet_keys_or_fernet_key() -> None:
    missing = settings_in(PRODUCTION)
    assert missing.returncode != 0
    assert "FERNET_KEY must be set when DJANGO_ENV=production" in missing.stderr
    done = settings_in({**PRODUCTION, "FERNET_KEYS": NEW})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [NEW]


def test_settings_refuse_a_malformed_key_without_printing_it() -> None:
    bad = "not-a-fernet-key-" + OLD[:10]
    done = settings_in({"FERNET_KEYS": f"{NEW},{bad}"})
    assert done.returncode != 0
    assert "FERNET_KEYS (or FERNET_KEY) must be Fernet keys" in done.stderr
    assert bad not in done.stderr and NEW not in done.stderr
