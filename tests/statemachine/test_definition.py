"""Static checks of the definitions in statemachines/: structure, errors, limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from statemachines.definition import (
    EXAMPLE_SUBSTITUTIONS,
    cloudformation_text,
    definition_names,
    numeric_placeholders,
    placeholders,
    render,
    source,
    substitute_text,
)
from tasks import errors

NAME = "backup_events"
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    # A function that times out or crashes reports these (aws-facts.md §C.5); every task is
    # safe to run again, so they are retried like the service's own errors.
    "Lambda.Unknown",
    "Sandbox.Timedout",
    # A crash of the runtime itself, and a task past its TimeoutSeconds: transient too.
    "Runtime.ExitError",
    "Runtime.Unknown",
    "States.Timeout",
}
# Retriers that wait for a condition rather than absorb a fault: polling a copy job, and a
# copy seen completed that AWS's listings do not show yet.
CONDITION_RETRIERS = (["CopyJobNotFinished"], ["CopiesNotYetVisible"])


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return source(NAME)


def tasks_of(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}


def targets(state: dict[str, Any]) -> set[str]:
    found = {state[k] for k in ("Next", "Default") if k in state}
    found |= {c["Next"] for c in state.get("Choices", [])}
    found |= {c["Next"] for c in state.get("Catch", [])}
    return found


def test_every_transition_leads_to_a_state_and_every_state_is_reachable(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    seen: set[str] = set()
    todo = [definition["StartAt"]]
    while todo:
        name = todo.pop()
        assert name in states, f"transition to missing state {name}"
        if name not in seen:
            seen.add(name)
            todo.extend(targets(states[name]))
    assert seen == set(states)


def test_the_first_state_is_a_choice_on_the_job_type(definition: dict[str, Any]) -> None:
    first = definition["States"][definition["StartAt"]]
    assert first["Type"] == "Choice"
    conditions = " ".join(c["Condition"] for c in first["Choices"])
    assert "Backup Job State Change" in conditions
    assert "Copy Job State Change" in conditions


def test_choice_states_are_named_as_questions(definition: dict[str, Any]) -> None:
    for name, state in definition["States"].items():
        assert (state["Type"] == "Choice") == name.endswith("?"), name


@pytest.mark.parametrize("name", sorted(tasks_of(source(NAME))))
def test_every_task_is_bounded_retried_and_caught(definition: dict[str, Any], name: str) -> None:
    task = definition["States"][name]
    assert 0 < task["TimeoutSeconds"] <= 120
    retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
    assert retried >= LAMBDA_SERVICE_ERRORS
    assert set(errors.TRANSIENT_AWS_ERRORS) <= retried
    for retrier in task["Retry"]:
        if retrier["ErrorEquals"] not in CONDITION_RETRIERS:
            assert retrier["JitterStrategy"] == "FULL"
            assert retrier["MaxDelaySeconds"] <= 300
    # Final errors end in a named Fail state. Errors a later attempt could fix (exhausted
    # throttling, timeouts, CopyJobTimedOut) stay uncaught: the execution fails at the task
    # itself, under the task's error name, and RedriveExecution resumes from that step
    # (aws-facts.md §C.3). A catch-all would send every error to a Fail state, which a redrive
    # only fails again.
    for catcher in task["Catch"]:
        assert "States.ALL" not in catcher["ErrorEquals"]
        assert "InvalidInput" in task["Catch"][0]["ErrorEquals"]
        assert definition["States"][catcher["Next"]]["Type"] == "Fail"
    caught = {e for c in task["Catch"] for e in c["ErrorEquals"]}
    assert not caught & set(errors.TRANSIENT_AWS_ERRORS)
    assert not caught & {"CopyJobTimedOut", "CopyJobNotFinished", "States.Timeout"}
    # What ends in a Fail state is exactly what the reconciliation never retries. A copy not
    # yet readable after its retries stays uncaught too, so a redrive reads it again.
    assert caught <= set(errors.FINAL_ERRORS)


@pytest.mark.parametrize("name", [n for n in tasks_of(source(NAME)) if n.startswith("WaitFor")])
def test_a_long_wait_survives_scattered_transient_errors(
    definition: dict[str, Any], name: str
) -> None:
    # A retrier's attempts count across every visit while the state runs (aws-facts.md §C.4),
    # so over days of polling a handful of throttles would otherwise end the wait.
    for retrier in definition["States"][name]["Retry"]:
        if set(retrier["ErrorEquals"]) & (LAMBDA_SERVICE_ERRORS | set(errors.TRANSIENT_AWS_ERRORS)):
            assert retrier["MaxAttempts"] >= 50, retrier["ErrorEquals"]


def test_every_error_name_in_the_definition_is_one_a_task_raises(
    definition: dict[str, Any],
) -> None:
    names: set[str] = set()
    for state in definition["States"].values():
        for handler in state.get("Retry", []) + state.get("Catch", []):
            names |= set(handler["ErrorEquals"])
        if state["Type"] == "Fail" and "{%" not in state["Error"]:
            names.add(state["Error"])
    ours = {n for n in names if not n.startswith(("States.", "Lambda.", "Sandbox.", "Runtime."))}
    for name in ours:
        error_class = getattr(errors, name, None)
        assert isinstance(error_class, type), name
        assert issubclass(error_class, errors.TaskError), name


@pytest.mark.parametrize("name", definition_names())
def test_placeholders_are_the_deployment_values_and_all_are_filled(name: str) -> None:
    assert placeholders(name) <= set(EXAMPLE_SUBSTITUTIONS)
    assert "${" not in json.dumps(render(name, EXAMPLE_SUBSTITUTIONS))


def test_every_example_value_fills_some_placeholder() -> None:
    used = set().union(*(placeholders(n) for n in definition_names()))
    assert used == set(EXAMPLE_SUBSTITUTIONS)


def test_numeric_placeholders_become_json_numbers_as_cloudformation_substitutes_them() -> None:
    assert numeric_placeholders(NAME) == {"PollFirstIntervalSeconds", "PollMaxIntervalSeconds"}
    # CloudFormation replaces the text of DefinitionString; the result must be the same JSON.
    text = substitute_text(cloudformation_text(NAME), EXAMPLE_SUBSTITUTIONS)
    rendered = json.loads(text)
    assert rendered == render(NAME, EXAMPLE_SUBSTITUTIONS)
    poll = rendered["States"]["WaitForCopyToBackupRegion"]["Retry"][0]
    assert poll["IntervalSeconds"] == 300
    assert isinstance(poll["MaxDelaySeconds"], int)


def test_a_missing_substitution_is_an_error_not_a_silent_placeholder() -> None:
    values = dict(EXAMPLE_SUBSTITUTIONS)
    del values["VaultName"]
    with pytest.raises(KeyError, match="VaultName"):
        render(NAME, values)


def polls_needed(first: int, maximum: int, limit: int) -> int:
    """Retries the polling retrier makes before the task's own limit check fails the wait."""
    waited, interval, polls = 0, first, 0
    while waited < limit:
        waited += min(interval, maximum)
        interval *= 2
        polls += 1
    return polls


def test_the_worst_allowed_polling_settings_fit_max_attempts_and_the_history_limit(
    definition: dict[str, Any],
) -> None:
    """25,000 history events per execution (aws-facts.md §C.1); each poll adds three."""
    poll = definition["States"]["WaitForCopyToBackupRegion"]["Retry"][0]
    assert poll["ErrorEquals"] == ["CopyJobNotFinished"]
    assert poll["JitterStrategy"] == "NONE"
    # The template allows PollFirstIntervalSeconds >= 60, PollMaxIntervalSeconds >= 300 and a
    # waiting limit of at most 168 hours; the worst case is the shortest intervals.
    worst = polls_needed(60, 300, 168 * 3600)
    assert worst < poll["MaxAttempts"]
    events_per_poll = 3  # TaskScheduled, TaskStarted, TaskFailed
    assert 2 * poll["MaxAttempts"] * events_per_poll + 100 < 25_000


# -- the reconciliation --------------------------------------------------------------------


def test_the_reconciliation_starts_redrives_and_reports_one_at_a_time_and_never_doubles() -> None:
    reconcile = source("reconcile")["States"]
    starts = reconcile["StartExecutionsForThem"]
    assert starts["MaxConcurrency"] == 1
    start = starts["ItemProcessor"]["States"]["StartExecution"]
    # A name Step Functions already holds (the same backup, the same day) is refused: skipped.
    assert start["Resource"].endswith(":aws-sdk:sfn:startExecution")
    assert start["Catch"][0]["ErrorEquals"] == ["Sfn.ExecutionAlreadyExistsException"]
    assert starts["ItemProcessor"]["States"]["PauseBeforeTheNext"]["Type"] == "Wait"
    redrive = reconcile["RedriveFailedExecutions"]["ItemProcessor"]["States"]["RedriveExecution"]
    assert redrive["Resource"].endswith(":aws-sdk:sfn:redriveExecution")
    assert "Sfn.ExecutionNotRedrivableException" in redrive["Catch"][0]["ErrorEquals"]
    report = reconcile["ReportUnfinished"]["ItemProcessor"]["States"]["SendToErrorQueue"]
    assert report["Resource"].endswith(":states:::sqs:sendMessage")


def test_the_workflow_takes_the_reconciliations_finish_requests_down_the_on_demand_path(
    definition: dict[str, Any],
) -> None:
    first = definition["States"][definition["StartAt"]]
    [to_describe] = [c for c in first["Choices"] if c["Next"] == "DescribeOriginalBackup"]
    assert "Backup Needs Finishing" in to_describe["Condition"]
    assert definition["States"]["DescribeOriginalBackup"]["Next"] == "CopyToBackupRegion"
