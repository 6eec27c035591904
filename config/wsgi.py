import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.checks import refuse_unsafe_web  # noqa: E402 (needs DJANGO_SETTINGS_MODULE)

refuse_unsafe_web()

application = get_wsgi_application()
