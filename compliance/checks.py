"""Start-up check of the calling rule files: a broken file stops every process before a call is
judged by it, naming the file and the rule."""

from django.core import checks

from compliance.rules import rule_file_problems


@checks.register()
def rule_files_check(app_configs=None, **kwargs):
    return [
        checks.Error(problem, hint="Fix the rule file in compliance/rules/.", id="compliance.E001")
        for problem in rule_file_problems()
    ]
