"""Fixtures the integration tests share."""

import pytest

from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A business's webhook endpoint, a local HTTP server (private and plain http allowed)."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver()
    yield receiver
    receiver.close()
