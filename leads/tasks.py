"""django-q2 entry points of the leads app."""


def create_lead_from_call(call_sid):
    from leads.services import lead_from_call

    lead_from_call(call_sid=call_sid)
