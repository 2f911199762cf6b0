"""RedriveExecution for the twin's Step Functions (moto 5.2.5 has none).

AWS's rules (docs/aws-facts.md §C.3): only a Standard execution that FAILED, TIMED_OUT or was
ABORTED, and closed less than 14 days ago, can be redriven; anything else answers
ExecutionNotRedrivable. A redrive keeps the execution ARN, input and definition, does not run
again the states that succeeded, and resumes at the one that did not, with its retry counters
back at zero. DescribeExecution then reports `redriveCount` and `redriveDate`, and
`redriveStatus` (with `redriveStatusReason` when it is NOT_REDRIVABLE); ListExecutions
reports both counts and takes `redriveFilter`.

How the twin resumes: every time a top-level state is entered, the execution remembers that
state's name, its input and the variables in scope. A redrive puts the execution's own
environment back to that moment (the history continues, with an ExecutionRedriven event) and
evaluates the program from that state in a new clock participant thread. A Map or Parallel
state is resumed as a whole; AWS would re-run only its failed iterations or branches.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from local.stepfunctions import StepFunctionsTwin

REDRIVE_WINDOW = timedelta(days=14)
CLIENT_TOKEN_WINDOW = timedelta(minutes=15)
_CLOSED = {"FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True)
class ResumePoint:
    state_name: str
    state_input: Any
    outer_variables: dict[str, Any]
    inner_variables: dict[str, Any]


@dataclass
class Redrives:
    """What one execution's redrives left behind, kept on the moto execution."""

    count: int = 0
    date: datetime | None = None
    tokens: dict[str, datetime] | None = None


def redrives_of(execution: Any) -> Redrives:
    found = getattr(execution, "twin_redrives", None)
    if found is None:
        found = execution.twin_redrives = Redrives(tokens={})
    return found


def _status(execution: Any) -> str:
    status = execution.exec_status
    return str(getattr(status, "value", status))


def not_redrivable(execution: Any, now: datetime) -> str | None:
    """Why AWS would refuse to redrive this execution now, or None (§C.3)."""
    # moto keeps the real type in `type` (its `sm_type` always says STANDARD).
    if str(getattr(execution.state_machine, "type", "STANDARD")) != "STANDARD":
        return "Execution is of an EXPRESS state machine: only Standard workflows can be redriven."
    status = _status(execution)
    if status not in _CLOSED:
        return (
            f"Execution is {status}: only FAILED, TIMED_OUT or ABORTED executions can be redriven."
        )
    if execution.stop_date is not None and now - execution.stop_date > REDRIVE_WINDOW:
        return "Execution closed more than 14 days ago and can no longer be redriven."
    if getattr(execution.exec_worker.env, "twin_resume", None) is None:
        return "Execution never entered a state: there is nothing to resume."
    return None


def redrive(stepfunctions: StepFunctionsTwin, execution: Any, token: str | None) -> datetime:
    """Resume a closed execution at the state that did not succeed; the redrive date."""
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.api import ExecutionStatus, HistoryEventType
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    now = stepfunctions.clock.now()
    record = redrives_of(execution)
    tokens = record.tokens if record.tokens is not None else {}
    if token and token in tokens and now - tokens[token] <= CLIENT_TOKEN_WINDOW:
        return tokens[token]  # the same request again: nothing new (§C.3, clientToken)
    reason = not_redrivable(execution, now)
    if reason is not None:
        raise JsonRESTError("ExecutionNotRedrivable", reason)

    worker = execution.exec_worker
    env = worker.env
    resume: ResumePoint = env.twin_resume
    record.count += 1
    record.date = now
    if token:
        tokens[token] = now
    execution.exec_status = ExecutionStatus.RUNNING
    execution.stop_date = execution.error = execution.cause = None
    # The execution's own environment, back at the moment the state was entered.
    env._program_state = None
    env._frames = []
    env.heap, env.stack = {}, []  # retry counters live in the heap: they start again at zero
    env.next_state_name = resume.state_name
    env.states.reset(copy.deepcopy(resume.state_input))
    env.variable_store._outer_scope = copy.deepcopy(resume.outer_variables)
    env.variable_store._inner_scope = copy.deepcopy(resume.inner_variables)
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.ExecutionRedriven,
        event_details=EventDetails(executionRedrivenEventDetails={"redriveCount": record.count}),
    )
    program = worker._get_evaluation_entrypoint()

    def resume_program() -> None:
        # Program.eval would start over at StartAt; its body resumes at next_state_name.
        EvalComponent.eval(program, env)
        worker._execution_communication.terminated()

    stepfunctions.run(worker, resume_program)
    return now


def _annotate(item: dict[str, Any], execution: Any) -> None:
    """Add what DescribeExecution and ListExecutions say about redrives to one answer."""
    record = redrives_of(execution)
    item["redriveCount"] = record.count
    if record.date is not None:
        item["redriveDate"] = record.date
    if _status(execution) == "TIMED_OUT":  # stock moto leaves its stop date out
        item["stopDate"] = execution.stop_date


_active: StepFunctionsTwin | None = None


def activate(stepfunctions: StepFunctionsTwin | None) -> None:
    """Serve RedriveExecution with `stepfunctions` (None: stock moto, which has none)."""
    global _active
    _active = stepfunctions


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse, "_twin_redrive", False):
        return

    original_eval_body = CommonStateField._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        if _active is not None and not env.is_frame():
            # A top-level state is entered: this is where a redrive would resume.
            store = env.variable_store
            env.twin_resume = ResumePoint(
                self.name,
                copy.deepcopy(env.states.get_input()),
                copy.deepcopy(store._outer_scope),
                copy.deepcopy(store._inner_scope),
            )
        original_eval_body(self, env)

    CommonStateField._eval_body = _eval_body  # type: ignore[method-assign]

    def redrive_execution(self: StepFunctionResponse) -> ActionResult:
        if _active is None:
            raise NotImplementedError("RedriveExecution needs the twin")
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        date = redrive(_active, execution, self._get_param("clientToken"))
        return ActionResult({"redriveDate": date})

    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]

    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self: StepFunctionResponse) -> ActionResult:
        result = original_describe(self)
        if _active is None:
            return result
        described: dict[str, Any] = result.result  # type: ignore[assignment]
        execution = self.stepfunction_backend.describe_execution(described["executionArn"])
        _annotate(described, execution)
        reason = not_redrivable(execution, _active.clock.now())
        described["redriveStatus"] = "NOT_REDRIVABLE" if reason else "REDRIVABLE"
        if reason:
            described["redriveStatusReason"] = reason
        return result

    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]

    original_list = StepFunctionResponse.list_executions

    def list_executions(self: StepFunctionResponse) -> ActionResult:
        result = original_list(self)
        if _active is None:
            return result
        listed: dict[str, Any] = result.result  # type: ignore[assignment]
        wanted = self._get_param("redriveFilter")
        kept = []
        for item in listed["executions"]:
            _annotate(item, self.stepfunction_backend.describe_execution(item["executionArn"]))
            redriven = item["redriveCount"] > 0
            if wanted is None or (wanted == "REDRIVEN") == redriven:
                kept.append(item)
        listed["executions"] = kept
        return result

    StepFunctionResponse.list_executions = list_executions  # type: ignore[method-assign]
    StepFunctionResponse._twin_redrive = True  # type: ignore[attr-defined]
