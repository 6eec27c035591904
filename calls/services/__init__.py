"""The call queue's transactions, locks and orchestration, one module per thing it does.

Lock order, everywhere: Business → TwilioAccount → DialingControl → Campaign → CallRequest →
CallerNumber → CallLog → Lead, every one FOR NO KEY UPDATE so that a foreign-key check at COMMIT
(FOR KEY SHARE) never closes a cycle: `locks.py` says why and takes them; docs/architecture.md
lists who takes what.

Imports run one way, from the bottom layer up:
0. `locks` (the row locks, in their order);
1. `task_queue`, `call_facts`, and `action_log`, `erasure`, `retention`, `calling_rules`,
   `do_not_call`, `invitations` (these import models and locks only);
2. `status` (the call status machine), `enqueue`, `pauses`, `machines` (answering machines),
   `prices` (what calls cost), `campaign_finishing` (ending campaigns with nothing left),
   `caller_numbers` (the pool a call's caller ID comes from, counted per day), `dial_tokens`
   (calls per second per account, and its line, which queues the dispatches it parked);
3. `callbacks`, `reconcile`, `placing`, `operator_actions`, `campaign_numbers`,
   `number_health` (quarantining and restoring caller numbers);
4. `hang_ups` (over reconcile), `dispatch` (over placing), `cleanup` (over retention).
Callers import from the module that owns a function; the two names below stay here because
other code and operators queue calls through them.
"""

from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call

__all__ = ["EnqueueRefused", "enqueue_outbound_call"]
