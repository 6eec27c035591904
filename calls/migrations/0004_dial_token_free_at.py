from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0003_cleanup_schedule"),
    ]

    operations = [
        migrations.RenameField(model_name="dialtoken", old_name="used_at", new_name="free_at"),
    ]
