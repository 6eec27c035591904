"""Searching by a phone number however it is written: "(415) 555-0004", "415.555.0004" and
"+1 415 555 0004" all find +14155550004, and a part of one ("555-0004") finds it too."""

import re

from django.core.exceptions import ValidationError

from calls.phone import to_e164

NUMBER_LIKE = re.compile(r"\+?[\d\s().\-/]+")


def number_search_term(term: str) -> str:
    """The number in E.164 when `term` is a whole one, its digits when it is a part of one, else
    `term` as it is (a name, a call SID)."""
    text = term.strip()
    if not NUMBER_LIKE.fullmatch(text) or sum(c.isdigit() for c in text) < 3:
        return term
    try:
        return to_e164(text)
    except ValidationError:
        return ("+" if text.startswith("+") else "") + re.sub(r"\D", "", text)


class NumberSearch:
    """For a ModelAdmin whose search fields hold numbers stored in E.164."""

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, number_search_term(search_term))
