import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_q.models import Schedule

from calls.models import Business


def test_the_schema_has_no_changes_without_a_migration(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_migrate_creates_the_error_columns_of_call_log(db):
    with connection.cursor() as cursor:
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, "calls_calllog")
        }
    assert {"error_code", "error_message", "dial_started_at", "last_sequence_number"} <= columns


def test_migrate_creates_the_cleanup_schedule_once(db):
    schedule = Schedule.objects.get(name="cleanup-orphaned-calls")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "calls.tasks.cleanup_orphaned_calls",
        Schedule.MINUTES,
        1,
        -1,
    )


@pytest.mark.django_db(transaction=True)
def test_migrating_again_does_not_duplicate_the_schedule():
    call_command("migrate", "calls", "0002", verbosity=0)
    assert not Schedule.objects.filter(name="cleanup-orphaned-calls").exists()
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    assert Schedule.objects.filter(name="cleanup-orphaned-calls").count() == 1


def test_ensuring_the_schedule_twice_keeps_one_row(db):
    from calls.schedule import cleanup_schedule_ensure

    cleanup_schedule_ensure(Schedule)
    cleanup_schedule_ensure(Schedule)
    assert Schedule.objects.filter(name="cleanup-orphaned-calls").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_do_not_call_lists_move_to_compliance_with_their_rows():
    from django.db.migrations.executor import MigrationExecutor

    from compliance.models import DoNotCall

    before = [("calls", "0023_calling_rules_holds"), ("compliance", None)]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    executor.loader.build_graph()
    old = executor.loader.project_state([before[0]]).apps
    business = old.get_model("calls", "Business").objects.create(
        name="Kept", phone_number="+14155550100"
    )
    old.get_model("calls", "DoNotCall").objects.create(
        business=business, phone_number="+14155550123", reason="asked"
    )
    # As a database migrated by main has it: the content type of calls' DoNotCall, none of
    # compliance's (the test database's post_migrate made one).
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.filter(model="donotcall").delete()
    ContentType.objects.create(app_label="calls", model="donotcall")

    call_command("migrate", verbosity=0)

    listed = DoNotCall.objects.get()
    assert (listed.business.name, listed.phone_number, listed.reason) == (
        "Kept",
        "+14155550123",
        "asked",
    )
    assert DoNotCall._meta.db_table == "calls_donotcall"
    ContentType.objects.clear_cache()
    assert ContentType.objects.get_for_model(DoNotCall).app_label == "compliance"
    assert not ContentType.objects.filter(app_label="calls", model="donotcall").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_consent_index_is_swapped_without_holding_back_a_write():
    """compliance/0004 builds the consent index CONCURRENTLY: while the build waits for an open
    transaction that wrote consent, another consent write still goes through (a plain CREATE
    INDEX would queue it behind the build's lock, which waits for that transaction)."""
    import threading

    import psycopg2

    from compliance.models import ConsentRecord

    call_command("migrate", "compliance", "0003", verbosity=0)
    business = Business.objects.create(name="Busy", phone_number="+14155550100")

    def session():
        settings = connection.settings_dict
        one = psycopg2.connect(
            dbname=settings["NAME"], host=settings["HOST"] or None,
            port=settings["PORT"] or None, user=settings["USER"],
            password=settings["PASSWORD"] or None,
        )  # fmt: skip
        return one, one.cursor()

    # Each write copies a row the ORM made, with another number: a plain INSERT of every column
    # of the table as 0003 left it (the model as it was then: later columns are not there yet).
    then = MigrationExecutor(connection).loader.project_state(
        ("compliance", "0003_inbound_opt_out_menu")
    )
    Then = then.apps.get_model("compliance", "ConsentRecord")
    model = Then.objects.create(
        business_id=business.pk, phone_number="+14155550109", kind="written",
        purposes=["telemarketing"], source="import", captured_at=timezone.now(),
        evidence_text="row",
    )  # fmt: skip
    columns = [f.column for f in Then._meta.concrete_fields if not f.primary_key]
    copied = ", ".join("%s" if c == "phone_number" else c for c in columns)

    def consent_insert(cursor, number):
        cursor.execute(
            f"INSERT INTO {ConsentRecord._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {copied} FROM {ConsentRecord._meta.db_table} WHERE id = %s",
            [number, model.pk],
        )

    holder, held = session()
    consent_insert(held, "+14155550101")  # uncommitted: the build waits for it
    done = threading.Event()

    def migrate():
        try:
            call_command("migrate", "compliance", "0004", verbosity=0)
        finally:
            connection.close()
            done.set()

    building = threading.Thread(target=migrate)
    building.start()
    writer, write = session()
    try:
        # Until the migration's statement waits on a lock (for `holder`): only then does a write
        # prove anything.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            write.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND query LIKE '%INDEX%consent_business_number%' AND wait_event_type = 'Lock'"
            )
            (waiting,) = write.fetchone()
            writer.rollback()  # a fresh snapshot of the statistics at each look
            if waiting:
                break
            time.sleep(0.05)
        assert waiting and not done.is_set()
        write.execute("SET lock_timeout = '5s'")
        consent_insert(write, "+14155550102")
        writer.commit()
        assert not done.is_set()  # the write went through during the build
    finally:
        holder.commit()
        building.join(30)
        writer.close()
        holder.close()
    assert done.is_set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND c.relname LIKE 'consent_business_number%%'",
            [ConsentRecord._meta.db_table],
        )
        assert cursor.fetchall() == [("consent_business_number_terms", True)]
    assert ConsentRecord.objects.count() == 3
    call_command("migrate", verbosity=0)  # whatever the step back unapplied besides


@pytest.mark.django_db(transaction=True)
def test_the_consent_table_keeps_one_index_that_leads_with_the_business():
    """compliance/0006 drops the foreign key's own index, which the covering index serves for
    every lookup by business while it cost every consent written; a step back builds it again."""
    from compliance.models import ConsentRecord

    def leading_with_business():
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, ConsentRecord._meta.db_table)
        return sorted(
            name for name, c in found.items() if c["index"] and c["columns"][0] == "business_id"
        )

    assert leading_with_business() == ["consent_business_number_grants"]
    call_command("migrate", "compliance", "0005", verbosity=0)
    assert leading_with_business() == [
        "compliance_consentrecord_business_id_aebf639c",
        "consent_business_number_grants",
    ]
    call_command("migrate", verbosity=0)
    assert leading_with_business() == ["consent_business_number_grants"]
