"""The app's models, a module per part of the domain; importable from here as before.

businesses: the tenants and the switch for all dialing; campaigns; requests (a wish to reach one
number); call_logs (the real calls and the reports Twilio sent about them). The models kept
beside the code that owns them (audit, coordination, preferences, tenancy) are imported here so
that Django registers them with this app. DoNotCall (the numbers no one, or one business, may
call) belongs to the compliance app now; it is exported here too, for the code that imports it
from here.
"""

from calls.audit import NumberErasure, OperatorAction, OperatorActionRow
from calls.coordination import DialToken, DialTurn, EndedCallTally, Lease, WorkerHeartbeat
from calls.models.businesses import Business, DialingControl
from calls.models.call_logs import LIVE_CONDITION, CallEvent, CallLog
from calls.models.caller_numbers import CallerNumber
from calls.models.campaigns import Campaign
from calls.models.requests import CallRequest
from calls.models.status import StatusQuerySet
from calls.preferences import OperatorPreference
from calls.scripts import default_twiml  # migration 0001 names it here
from calls.tenancy import Invitation, Membership
from compliance.models import DoNotCall

__all__ = [
    "LIVE_CONDITION",
    "Business",
    "CallEvent",
    "CallLog",
    "CallRequest",
    "CallerNumber",
    "Campaign",
    "DialToken",
    "DialTurn",
    "DialingControl",
    "DoNotCall",
    "EndedCallTally",
    "Invitation",
    "Lease",
    "Membership",
    "NumberErasure",
    "OperatorAction",
    "OperatorActionRow",
    "OperatorPreference",
    "StatusQuerySet",
    "WorkerHeartbeat",
    "default_twiml",
]
