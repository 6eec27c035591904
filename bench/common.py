"""Shared by the benchmarks: scratch databases, the stack's settings, percentiles, printing.

Every benchmark runs against its own scratch PostgreSQL database (`bench_<name>`), dropped and
made afresh, so a run never depends on what an earlier one left behind. Each is a copy of a
template migrated once per schema (`bench_template_<hash of the migrations>`): a copy takes a
tenth of a second where a migration takes seconds, and the smokes in CI make a dozen.
"""

import hashlib
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/x.py`, the project root is not on sys.path; `tests.e2e.live_stack`, `calls`
# and `config` live there.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e import live_stack  # noqa: E402 (needs ROOT on sys.path)

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
LOG_DIR = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bench-logs"))
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "bench")

# Production settings (DEBUG off), with the real-looking secrets LiveStack uses: every process
# refuses to start on the development defaults.
BASE_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": live_stack.SECRET_KEY,
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "TWILIO_ACCOUNT_SID": live_stack.ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": live_stack.AUTH_TOKEN,
    "FIELD_ENCRYPTION_KEYS": live_stack.FIELD_ENCRYPTION_KEY,
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}


def admin_sql(sql: str, params=None) -> list[tuple]:
    """Runs `sql` on the server's `postgres` database, outside a transaction; its rows, if any."""
    import psycopg2

    connection = psycopg2.connect(f"{PG_URL}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def database_url(name: str) -> str:
    """The URL of scratch database `name` (`bench_<name>`, or `<BENCH_DB_PREFIX>_<name>`, so
    runs in parallel, such as CI's, never share one)."""
    return f"{PG_URL}/{DB_PREFIX}_{name}"


def fresh_database(name: str) -> str:
    """Drops and recreates scratch database `name`, migrated, and returns its URL."""
    url = database_url(name)
    name = url.rpartition("/")[2]
    template = migrated_template()
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return url


def migrated_template() -> str:
    """The name of a database migrated to the schema of this checkout, made if there is none:
    named for a hash of every migration file, so a changed migration makes a new one (and the
    older ones of this prefix are dropped). Built under another name and renamed when done, so
    a run killed while migrating never leaves a half-migrated template to copy."""
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    prefix = f"{DB_PREFIX}_template_"
    name = prefix + digest.hexdigest()[:12]
    found = admin_sql("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix])
    if (name,) in found:
        return name
    for (old,) in found:
        admin_sql(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
    building = f"{name}_building"
    admin_sql(f'CREATE DATABASE "{building}"')
    env = {**os.environ, **BASE_ENV, "DATABASE_URL": f"{PG_URL}/{building}"}
    env.pop("REDIS_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    admin_sql(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    return name


def django_setup(database_url: str, **env: str) -> None:
    """Configures Django in this process against `database_url` (call once, before any import
    of models)."""
    os.environ.update(BASE_ENV)
    os.environ.update(env)
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("REDIS_URL", "")
    import django

    django.setup()


def log_dir(name: str) -> Path:
    path = LOG_DIR / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values) -> float:
    return percentile(values, 50)


def machine() -> str:
    import psycopg2

    memory_kb = next(
        int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")
    )
    connection = psycopg2.connect(f"{PG_URL}/postgres")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0]
    finally:
        connection.close()
    try:
        import redis

        redis_version = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    except Exception as error:  # Redis is optional for some benchmarks: say why it is missing
        redis_version = f"unavailable ({error})"
    return (
        f"{os.cpu_count()} CPUs, {memory_kb // 1024} MiB RAM, Python {platform.python_version()},"
        f" PostgreSQL {pg_version.split()[0]}, Redis {redis_version}"
    )


def heading(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def rows_copy(template, *, first: int, last: int, values: dict[str, str], joins: str = "") -> int:
    """Inserts a copy of `template` (a saved model instance) for each `i` in first..last, with
    the columns `values` names set to its SQL expression (over `i` and `joins`' tables), then
    deletes the template; returns the rows inserted.

    Every other column is the template's, which Django built with the model's own defaults: a
    column added later is filled as the application fills it, so the bench does not break with
    the schema (a raw INSERT listing every column did). A unique column must be given.
    """
    from django.db import connection

    meta = type(template)._meta
    # A generated column is the database's to fill.
    columns = [f.column for f in meta.concrete_fields if not (f.primary_key or f.generated)]
    unknown = set(values) - set(columns)
    unique = {f.column for f in meta.concrete_fields if f.unique and not f.primary_key}
    if unknown or unique - set(values):
        raise ValueError(
            f"{meta.db_table}: no columns {sorted(unknown)}; unique ones must be given: "
            f"{sorted(unique - set(values))}"
        )
    quote = connection.ops.quote_name
    select = ", ".join(values.get(c, f"template.{quote(c)}") for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, columns))}) "
            f"SELECT {select} FROM {quote(meta.db_table)} AS template "
            f"CROSS JOIN generate_series(%(first)s, %(last)s) AS i {joins} "
            f"WHERE template.{quote(meta.pk.column)} = %(template)s",
            {"first": first, "last": last, "template": template.pk},
        )
        inserted = cursor.rowcount
        cursor.execute(
            f"DELETE FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s",
            [template.pk],
        )
    return inserted
