"""The dispatch budget must leave room inside django-q2's task timeout (config.E004)."""

from config.checks import dispatch_budget


def test_the_default_budget_fits_inside_the_task_timeout(settings):
    assert dispatch_budget(None) == []


def test_a_budget_that_would_outlive_the_task_timeout_is_an_error(settings):
    settings.DISPATCH_BUDGET_SECONDS = 50
    (error,) = dispatch_budget(None)
    assert error.id == "config.E004"
    assert "65 s" in error.msg and "(60 s)" in error.msg
