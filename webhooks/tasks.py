"""django-q2 entry points of the webhooks: one key in, one service call, idempotent."""


def webhook_deliver(message_id):
    """One attempt at a message, if it is due and no other delivery holds it (its retry
    schedule, the cleanup's nudge and a redelivery may all queue this)."""
    from webhooks.deliveries import message_deliver

    return message_deliver(message_id=message_id)
