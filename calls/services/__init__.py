"""The call queue's transactions, locks and orchestration, one module per thing it does.

Lock order, everywhere: Business → DialingControl → Campaign → CallRequest → CallLog. A function
that locks rows of two of these takes them in that order, so two transactions never wait on each
other in a cycle.

Imports run one way: `task_queue` ← `status` ← (`callbacks`, `enqueue`, `pauses`,
`dial_tokens`) ← `dispatch`, `reconcile`, `operator_actions`, `cleanup`; `retention` ← `cleanup`.
`action_log` (recording what operators did) and `erasure` (removing a person's number) stand
apart: they import models only. Callers import from the module that owns a function; the two
names below stay here because other code and operators queue calls through them.
"""

from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call

__all__ = ["EnqueueRefused", "enqueue_outbound_call"]
