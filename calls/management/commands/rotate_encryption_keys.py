from django.core.management.base import BaseCommand

from config.encryption import secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypts every secret kept in the database (Twilio auth tokens, webhook secrets) "
        "with the first key of FIELD_ENCRYPTION_KEYS; run it after putting a new key first, "
        "then remove the old key."
    )

    def handle(self, *args, **options):
        for label, count in secrets_reencrypt().items():
            self.stdout.write(f"{label}: {count} re-encrypted")
