"""DoNotCall moves from the calls app to compliance, its table (calls_donotcall) and rows kept:
the state only (calls 0024 takes it out of calls' state), and its content type follows, so the
admin's history and any permission on it stay attached."""

import calls.phone
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_move(apps, schema_editor, source="calls", target="compliance"):
    # A fresh database has neither yet (post_migrate makes them after the last migration); one
    # that already has the target's is left as it is.
    types = apps.get_model("contenttypes", "ContentType").objects.using(
        schema_editor.connection.alias
    )
    if not types.filter(app_label=target, model="donotcall").exists():
        types.filter(app_label=source, model="donotcall").update(app_label=target)


def content_type_back(apps, schema_editor):
    content_type_move(apps, schema_editor, source="compliance", target="calls")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("calls", "0023_calling_rules_holds"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='DoNotCall',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('phone_number', models.CharField(help_text='E.164, e.g. +14155550123.', max_length=16, validators=[calls.phone.validate_e164])),
                        ('reason', models.CharField(blank=True, max_length=500)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('business', models.ForeignKey(blank=True, help_text='Empty: no business may call the number (superusers only).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='do_not_call', to='calls.business')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('source_call', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='calls.calllog')),
                    ],
                    options={
                        'verbose_name': 'do-not-call number',
                        'db_table': 'calls_donotcall',
                        'constraints': [models.UniqueConstraint(condition=models.Q(('business__isnull', False)), fields=('business', 'phone_number'), name='do_not_call_one_per_business_number', violation_error_message="This number is already on the business's list."), models.UniqueConstraint(condition=models.Q(('business__isnull', True)), fields=('phone_number',), name='do_not_call_one_global_per_number', violation_error_message='This number is already on the list of every business.')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_move, content_type_back),
    ]
