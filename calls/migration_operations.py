"""Index changes that never hold back writes while they build, for tables that are busy in
production (a claim reads and writes them every few milliseconds).

On PostgreSQL, `CREATE INDEX CONCURRENTLY` / `DROP INDEX CONCURRENTLY`: the table stays open to
reads and writes while the index builds (a plain `CREATE INDEX` blocks every write for the build:
about 20 s for the consent index at 10 million rows). They cannot run in a transaction, so a
migration using them sets `atomic = False`; add the new index before removing the old one, so
the queries always have one. If a concurrent build fails (a deploy killed mid-way), PostgreSQL
leaves the index INVALID: drop it and migrate again. Elsewhere (SQLite, the zero-set-up default)
the plain operations."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations import AddIndex, RemoveIndex


class _ConcurrentlyOnPostgres:
    plain: type  # the operation without CONCURRENTLY, for the other databases

    def database_forwards(self, app_label, schema_editor, *states):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, *states)
        return self.plain.database_forwards(self, app_label, schema_editor, *states)

    def database_backwards(self, app_label, schema_editor, *states):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, *states)
        return self.plain.database_backwards(self, app_label, schema_editor, *states)


class AddIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, AddIndexConcurrently):
    plain = AddIndex


class RemoveIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, RemoveIndexConcurrently):
    plain = RemoveIndex
