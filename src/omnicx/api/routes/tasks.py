"""Human tasks a journey gives an agent team or a store (tasks.write).

    GET /api/tasks?team=&store=&status=&customer=    the work list, soonest due first
    POST /api/tasks/{id}/complete {outcome, note}    done: the customer's journey moves on

A task left open past its due time expires and the journey takes its timeout exit.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from omnicx.access import Principal
from omnicx.api.deps import ServicesDep, require
from omnicx.api.errors import error_responses
from omnicx.api.schemas.journeys import TaskComplete, TaskPublic, TasksPublic
from omnicx.orchestration.journeys import HumanTask

router = APIRouter(prefix="/api", tags=["human tasks"])

TasksWrite = Annotated[Principal, Depends(require("tasks.write"))]


def task_public(task: HumanTask) -> TaskPublic:
    return TaskPublic(
        id=task.id,
        journey_id=task.journey_id,
        instance_id=task.instance_id,
        node=task.node,
        customer_id=task.profile_id,
        kind=task.kind,
        title=task.title,
        team_id=task.team_id,
        store_id=task.store_id,
        status=task.status,
        due_at=task.due_at,
        created_at=task.created_at,
        completed_at=task.completed_at,
        completed_by=task.completed_by,
        outcome=task.outcome,
        note=task.note,
    )


@router.get("/tasks", summary="Human tasks of a team or a store")
def list_tasks(
    request: Request,
    services: ServicesDep,
    _: TasksWrite,
    team: Annotated[str | None, Query(max_length=64, description="An agent team id")] = None,
    store: Annotated[str | None, Query(max_length=64, description="A store id")] = None,
    status: Annotated[str | None, Query(pattern="^(open|done|expired|cancelled)$")] = "open",
    customer: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TasksPublic:
    with services.uow(write=False) as uow:
        found = services.conductor.repo(uow).tasks(
            team_id=team,
            store_id=store,
            status=status,
            profile_ids=[customer] if customer else None,
            limit=limit,
        )
    request.state.audit_customers = sorted({t.profile_id for t in found})
    return TasksPublic(items=[task_public(t) for t in found])


@router.post(
    "/tasks/{task_id}/complete",
    summary="Complete a task; the customer's journey moves on",
    responses=error_responses(409),
)
def complete_task(
    task_id: str, body: TaskComplete, request: Request, services: ServicesDep, caller: TasksWrite
) -> TaskPublic:
    with services.uow() as uow:
        task = services.conductor.complete_task(uow, task_id, body.outcome, body.note, caller.actor)
        uow.commit()
    request.state.audit_customers = [task.profile_id]
    return task_public(task)
