"""Consent at scale: the claim's consent check of 100 numbers among millions of consent rows, and
the rate of a bulk import of consents.

    .venv/bin/python bench/consent.py [--smoke] [--rows 10000000] [--runs 200] [--import-rows 50000]

In a scratch PostgreSQL database, `--rows` consent rows over 10 businesses (one row per number,
copies of one the ORM made, `common.rows_copy`), then VACUUM ANALYZE (what autovacuum does to a
table after a bulk insert; run here since a scratch server may have autovacuum off):
- check: `compliance.consent.consent_refusals` for 100 numbers of one business (90 with a
  written consent among its `rows`/10, 10 without), the claim's lookup, `--runs` times with
  fresh numbers each run; its median against a lookup of 100 consent rows by primary key in the
  same run (ratio = check / pk lookup), and the EXPLAIN (ANALYZE, BUFFERS) plan of its query.
  Target: median <= 2 ms.
- import: `compliance.consent_records.consents_record` (validation, E.164 parsing, COPY) in
  batches of 10,000, the same over `POST /api/v1/consents` in-process (JSON, the schema,
  the service) and `manage.py import_consents` of a CSV file: rows per second against a plain
  `bulk_create` of the same rows (ratio = import / bulk_create), each import's input (the
  batches, the JSON bodies, the file) made before its clock starts. Target: >= 20,000 rows/s.
Exit 1 if an invariant breaks: the check refuses a consented number or passes an unconsented one;
an import stores a different number of rows than it was given; the API's answer to a batch does
not count the ids it lists.
"""

import argparse
import io
import json
import random
import re
import sys
import time

import common

BUSINESSES = 10
CHECKED = 100
MISSING = 10
BATCH = 10_000
CHECK_TARGET_MS = 2.0
IMPORT_TARGET = 20_000


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--import-rows", type=int, default=50_000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    sizes = parser.parse_args()
    if sizes.smoke:
        sizes.rows, sizes.runs, sizes.import_rows = 20_000, 5, 2_000
    return sizes


# Valid North American numbers, 8 million per area code (exchanges 200-999).
AREAS = ["415", "416", "212", "213", "312", "617", "718", "305"]
PER_AREA = 8_000_000


def number(i: int) -> str:
    return f"+1{AREAS[i // PER_AREA]}{200 + (i // 10_000) % 800}{i % 10_000:04d}"


NUMBER_SQL = (
    f"'+1' || (ARRAY{AREAS})[1 + i / {PER_AREA}] || (200 + (i / 10000) %% 800)::text "
    "|| lpad((i %% 10000)::text, 4, '0')"
)


def main():
    sizes = arguments()
    common.django_setup(common.fresh_database("consent"), API_RATE_PER_MINUTE="1000000")
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.utils import timezone

    from api.keys import api_key_create
    from calls.models import Business
    from compliance.consent import ConsentTerms, consent_refusals
    from compliance.consent_records import ConsentGiven, consents_record
    from compliance.models import ConsentRecord

    businesses = [
        Business.objects.create(name=f"Consent {n}", phone_number=f"+1415555{400 + n:04d}")
        for n in range(BUSINESSES)
    ]
    first_id = businesses[0].pk
    template = ConsentRecord.objects.create(
        business=businesses[0],
        phone_number=number(0),
        kind="written",
        purposes=["telemarketing"],
        source="import",
        captured_at=timezone.now() - timezone.timedelta(days=30),
        evidence_text="Signed the spring form.",
    )
    common.heading(f"Filling {sizes.rows:,} consent rows")
    started = time.monotonic()
    common.rows_copy(
        template,
        first=1,
        last=sizes.rows,
        values={
            "business_id": f"{first_id} + i %% {BUSINESSES}",
            "phone_number": NUMBER_SQL,
        },
    )
    with connection.cursor() as cursor:
        # The visibility map an index-only scan needs, and the hint bits a first read would
        # otherwise write: a production table has them from autovacuum.
        cursor.execute("VACUUM ANALYZE compliance_consentrecord")
    print(f"filled in {time.monotonic() - started:.0f} s", flush=True)

    business = businesses[0]
    # Numbers i with i % BUSINESSES == 0 are the business's; those past `rows` have no consent.
    own = range(BUSINESSES, sizes.rows + 1, BUSINESSES)
    failures = []
    checks, lookups = [], []
    rng = random.Random(7)
    for _ in range(sizes.runs):
        consented = [number(i) for i in rng.sample(own, CHECKED - MISSING)]
        missing = [number(sizes.rows + BUSINESSES * (k + 1)) for k in range(MISSING)]
        started = time.perf_counter()
        refused = consent_refusals(
            business=business, numbers=consented + missing, purpose="telemarketing"
        )
        checks.append((time.perf_counter() - started) * 1000)
        if set(refused) != set(missing):
            failures.append(f"refused {sorted(refused)[:3]}…, not the {MISSING} unconsented")
        ids = [rng.randint(1, sizes.rows) for _ in range(CHECKED)]
        started = time.perf_counter()
        list(ConsentRecord.objects.filter(pk__in=ids).only("phone_number", "kind"))
        lookups.append((time.perf_counter() - started) * 1000)
    # The check's own query (consents_of), for 100 numbers not asked before.
    sample = [number(i) for i in rng.sample(own, CHECKED)]
    explained = (
        ConsentRecord.objects.filter(business_id=business.pk, phone_number__in=sample)
        .values_list(*ConsentTerms._fields)
        .explain(analyze=True, buffers=True)
    )
    # The hundred numbers once would fill the screen: named, not listed.
    plan = [re.sub(r"'\{[^}]*\}'", "'{…100 numbers}'", line) for line in explained.splitlines()]

    common.heading("Import")

    def given(i):
        return ConsentGiven(
            number=number(sizes.rows + 1_000_000 + i),
            kind="written",
            purposes=["telemarketing"],
            source="import",
            captured_at=timezone.now() - timezone.timedelta(days=1),
            evidence_text="Signed the spring form.",
        )

    target = businesses[1]
    # Each import's input is made before its clock starts: the rate is the import's.
    batches = [
        [given(i) for i in range(start, min(start + BATCH, sizes.import_rows))]
        for start in range(0, sizes.import_rows, BATCH)
    ]
    before = ConsentRecord.objects.count()
    started = time.perf_counter()
    for batch in batches:
        consents_record(business=target, given=batch)
    service_seconds = time.perf_counter() - started
    stored = ConsentRecord.objects.count() - before
    if stored != sizes.import_rows:
        failures.append(f"the service stored {stored} of {sizes.import_rows} consents")

    _, key = api_key_create(business=target, name="bench")
    client = Client(HTTP_HOST="localhost")
    offset = sizes.import_rows
    bodies = [
        json.dumps(
            [
                {
                    "to": number(sizes.rows + 1_000_000 + offset + i),
                    "kind": "written",
                    "purposes": ["telemarketing"],
                    "source": "import",
                    "captured_at": "2026-11-20T10:00:00Z",
                    "evidence": "Signed the spring form.",
                }
                for i in range(start, min(start + BATCH, sizes.import_rows))
            ]
        )
        for start in range(0, sizes.import_rows, BATCH)
    ]
    before = ConsentRecord.objects.count()
    started = time.perf_counter()
    for body in bodies:
        answer = client.post(
            "/api/v1/consents",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        if answer.status_code != 201:
            failures.append(f"the API answered {answer.status_code}: {answer.content[:200]}")
            break
    api_seconds = time.perf_counter() - started
    stored = ConsentRecord.objects.count() - before
    if stored != sizes.import_rows:
        failures.append(f"the API stored {stored} of {sizes.import_rows} consents")
    recorded = answer.json()
    if recorded.get("recorded") != len(recorded.get("ids", ())) or not recorded["ids"]:
        failures.append(f"the API's answer does not count its ids: {str(recorded)[:200]}")

    csv_path = common.log_dir("consent") / "consents.csv"
    with open(csv_path, "w") as out:
        out.write("number,kind,purposes,source,captured_at,evidence\n")
        for i in range(sizes.import_rows):
            n = number(sizes.rows + 3_000_000 + i)
            out.write(f"{n},written,telemarketing,import,2026-11-20T10:00:00Z,Signed the form.\n")
    before = ConsentRecord.objects.count()
    started = time.perf_counter()
    quiet = io.StringIO()
    call_command("import_consents", str(csv_path), "--business", str(target.pk), stdout=quiet)
    command_seconds = time.perf_counter() - started
    stored = ConsentRecord.objects.count() - before
    if stored != sizes.import_rows:
        failures.append(f"the command stored {stored} of {sizes.import_rows} consents")

    rows = [
        ConsentRecord(
            business=target,
            phone_number=number(sizes.rows + 5_000_000 + i),
            kind="written",
            purposes=["telemarketing"],
            source="import",
            captured_at=timezone.now(),
            evidence_text="Signed the spring form.",
        )
        for i in range(sizes.import_rows)
    ]
    started = time.perf_counter()
    with transaction.atomic():
        ConsentRecord.objects.bulk_create(rows, batch_size=1000)
    plain_seconds = time.perf_counter() - started

    common.heading("Plan of the check's query (100 numbers)")
    print("\n".join(plan))
    common.heading("Figures")
    print(common.machine())
    check = common.median(checks)
    lookup = common.median(lookups)
    met = "met" if check <= CHECK_TARGET_MS else "MISSED"
    print(
        f"consent check of {CHECKED} numbers among {sizes.rows:,} rows "
        f"({sizes.rows // BUSINESSES:,} of the business): median {check:.2f} ms, "
        f"p95 {common.percentile(checks, 95):.2f} ms over {sizes.runs} runs; "
        f"pk lookup of {CHECKED} rows {lookup:.2f} ms; ratio {check / lookup:.2f}; "
        f"target <= {CHECK_TARGET_MS} ms {met}"
    )
    plain_rate = sizes.import_rows / plain_seconds
    for name, seconds in (
        ("service", service_seconds),
        ("API", api_seconds),
        ("command (CSV)", command_seconds),
    ):
        rate = sizes.import_rows / seconds
        met = "met" if rate >= IMPORT_TARGET else "MISSED"
        print(
            f"import over the {name}: {rate:,.0f} rows/s ({sizes.import_rows:,} rows in "
            f"batches of {BATCH:,}); plain bulk_create {plain_rate:,.0f} rows/s; ratio "
            f"{rate / plain_rate:.2f}; target >= {IMPORT_TARGET:,} rows/s {met}"
        )
    for failure in failures:
        print(f"INVARIANT BROKEN: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
