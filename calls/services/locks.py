"""Row locks, taken in one order everywhere:

    Business → TwilioAccount → DialingControl → Campaign → CallRequest → CallerNumber → CallLog
    → Lead

(TwilioAccount or DialingControl is "the account's row": a subaccount's own row, or the control
row for the main account; its lock makes an account's live-call cap one step across its
businesses.)

A transaction that locks rows of two of these takes them in that order, so two transactions
never wait on each other in a cycle. Several rows of one table are locked in pk order.

Every lock here is FOR NO KEY UPDATE (`select_for_update(no_key=True)`), never FOR UPDATE.
Django's foreign keys on PostgreSQL are DEFERRABLE INITIALLY DEFERRED: a row inserted (or a key
changed) that references a business, a campaign or a request is checked at COMMIT, with FOR KEY
SHARE on the referenced row, after everything else the transaction locked. FOR UPDATE conflicts
with that check, so a callback that inserted a webhook message (referencing its business) would
wait at its commit for an operator holding the business FOR UPDATE, who waits for the campaign
the callback holds: a cycle no order of explicit locks could prevent. FOR NO KEY UPDATE excludes
other writers of the row just the same but lets a foreign-key check through, and it is the lock
a plain UPDATE takes when it changes no unique column; so with FK checks counted, the order above
holds. What still conflicts with FOR KEY SHARE: deleting a row, or changing a unique column (the
business's phone number, a call's SID) of a row another transaction references as it commits.
Those are rows nobody references concurrently (an unsent call being handed back, a call whose
SID arrives) or admin edits.

A caller number is locked only by the conditional UPDATE that counts a call on it (placing, in
the transaction that then stamps the call) and by the health run's moves of its status, which
lock nothing else: so it sits before CallLog.

On SQLite these are no-ops: it takes one write lock for the whole database.
"""

from calls.models import Business, CallRequest, Campaign, DialingControl
from twilio_accounts.models import TwilioAccount


def business_lock(*, business_id: int) -> Business | None:
    """Locks and returns the business as it is now (None if there is none)."""
    return Business.objects.select_for_update(no_key=True).filter(pk=business_id).first()


def twilio_account_lock(*, account_id: int) -> TwilioAccount | None:
    """Locks and returns a subaccount's row: its cap read under this lock, and the count of its
    live calls, stay true until the transaction ends (every claim through it takes this lock)."""
    return TwilioAccount.objects.select_for_update(no_key=True).filter(pk=account_id).first()


def dialing_control_lock() -> DialingControl:
    """Locks the one dialing-control row: the all-dialing switch and the account-wide cap."""
    pk = DialingControl.get().pk
    return DialingControl.objects.select_for_update(no_key=True).get(pk=pk)


def campaign_lock(*, campaign_id: int) -> Campaign | None:
    """Locks and returns the campaign as it is now: a status read under this lock stays true
    until the transaction ends (every move of a campaign, and every new or reopened request of
    it, takes this lock first)."""
    return Campaign.objects.select_for_update(no_key=True).filter(pk=campaign_id).first()


def request_lock(*, request_id: int) -> CallRequest | None:
    """Locks a request, and its campaign first (the lock order), so a campaign being canceled or
    finished cannot miss a request that a call settles back to queued; returns the request as
    it is now."""
    campaign_id = (
        CallRequest.objects.filter(pk=request_id).values_list("campaign_id", flat=True).first()
    )
    if campaign_id:
        campaign_lock(campaign_id=campaign_id)
    return (
        CallRequest.objects.select_for_update(no_key=True, of=("self",))
        .select_related("campaign", "business")
        .filter(pk=request_id)
        .first()
    )
