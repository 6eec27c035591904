"""The record of what operators did: one OperatorAction per business an action touched, with the
rows it was run on. Any interface that runs an operator action (the admin, a later API) records
it here."""

from django.db import transaction

from calls.audit import OperatorAction, OperatorActionRow


def operator_action_record(
    *,
    user,
    business_id: int,
    action: str,
    description: str,
    target: str,
    row_ids,
    summary: str,
    username: str = "",
) -> OperatorAction:
    """`username` names an actor that is not a user (an API key) when `user` is None."""
    row_ids = list(row_ids)
    with transaction.atomic():
        record = OperatorAction.objects.create(
            business_id=business_id,
            user=user if user and user.is_authenticated else None,
            username=user.get_username() if user and user.is_authenticated else username,
            action=action,
            description=description,
            target=target,
            rows=len(row_ids),
            summary=summary,
        )
        OperatorActionRow.objects.bulk_create(
            OperatorActionRow(action=record, object_id=pk) for pk in row_ids
        )
    return record


def operator_actions_on(*, target: str, object_id: int):
    """The actions run on one row, newest first."""
    return OperatorAction.objects.filter(
        target=target, targets__object_id=object_id
    ).select_related("user")
