"""What other apps may react to, without calls importing them (the webhooks app listens here)."""

from django.dispatch import Signal

# Sent with `request_ids` (a list) inside the transaction that moved those requests to a closed
# status (done, failed, canceled), once per move: every such move goes through
# CallRequest.objects.status_move, which sends it. Receivers write rows and queue work on commit;
# they never talk to the network (a Twilio callback may be the caller).
requests_settled = Signal()
