"""`make run`'s admin: made once, with a password kept outside git, the same on every run."""

import stat
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command


@pytest.fixture
def password_file(settings, tmp_path):
    settings.DEBUG = True
    settings.DEV_ADMIN_PASSWORD_FILE = tmp_path / ".run" / "admin-password"
    return settings.DEV_ADMIN_PASSWORD_FILE


def dev_admin() -> str:
    out = StringIO()
    call_command("dev_admin", stdout=out)
    return out.getvalue().strip().rpartition("password: ")[2]


def test_the_password_is_made_once_kept_private_and_printed_each_run(db, password_file):
    first = dev_admin()
    assert password_file.read_text().strip() == first
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert dev_admin() == first
    user = authenticate(username="admin", password=first)
    assert user.is_staff and user.is_superuser


def test_an_admin_whose_password_was_changed_gets_the_kept_one_back(db, password_file):
    password = dev_admin()
    user = authenticate(username="admin", password=password)
    user.set_password("something else")
    user.save()
    assert dev_admin() == password
    assert authenticate(username="admin", password=password) is not None


def test_it_refuses_to_run_outside_development(db, password_file, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("dev_admin")
    assert not password_file.exists()


def test_the_password_file_is_outside_git():
    from django.conf import settings

    ignored = (settings.BASE_DIR / ".gitignore").read_text().splitlines()
    assert ".run/" in ignored
    assert settings.DEV_ADMIN_PASSWORD_FILE.relative_to(settings.BASE_DIR).parts[0] == ".run"
