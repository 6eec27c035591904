"""The call queue's transactions, locks and orchestration, one module per thing it does.

Lock order, everywhere: Business → DialingControl → Campaign → CallRequest → CallLog. A function
that locks rows of two of these takes them in that order, so two transactions never wait on each
other in a cycle.

Imports run one way, from the bottom layer up:
1. `task_queue`, `call_facts`, `dial_tokens`, and `action_log`, `erasure`, `retention`,
   `calling_windows`, `do_not_call`, `invitations` (these import models only);
2. `status` (the call status machine), `enqueue`, `pauses`, `machines` (answering machines),
   `prices` (what calls cost);
3. `callbacks`, `reconcile`, `placing`, `operator_actions`, `campaign_numbers`;
4. `hang_ups` (over reconcile), `dispatch` (over placing), `cleanup` (over retention).
Callers import from the module that owns a function; the two names below stay here because
other code and operators queue calls through them.
"""

from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call

__all__ = ["EnqueueRefused", "enqueue_outbound_call"]
