"""The calling window's fields on the business and campaign forms: weekdays as checkboxes, the
time zone as a list of the IANA names."""

from django import forms

from calls.preferences import time_zone_names
from compliance.windows import WEEKDAYS


def window_formfield(db_field) -> forms.Field | None:
    """The form field for a window field of Business or Campaign; None for any other field."""
    if db_field.name == "window_days":
        return forms.TypedMultipleChoiceField(
            choices=WEEKDAYS,
            coerce=int,
            widget=forms.CheckboxSelectMultiple,
            required=not db_field.blank,
            label="Window days",
            help_text=db_field.help_text,
        )
    if db_field.name == "time_zone":
        return forms.ChoiceField(
            choices=[(name, name) for name in time_zone_names()],
            initial=db_field.default,
            help_text=db_field.help_text,
        )
    return None
