"""DoNotCall belongs to the compliance app now (its migration 0001): out of calls' state only,
its table and rows stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("calls", "0023_calling_rules_holds"),
        ("compliance", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="DoNotCall")],
            database_operations=[],
        ),
    ]
