from django.apps import AppConfig


class TwilioAccountsConfig(AppConfig):
    name = "twilio_accounts"
    verbose_name = "Twilio accounts"
