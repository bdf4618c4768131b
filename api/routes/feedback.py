"""Observed sale prices for scored requests: rolling accuracy by neighbourhood and model version."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import JobsDep, SettingsDep, StateDep, ViewerDep
from api.errors import ApiError
from api.feedback import UNKNOWN, error_of, export, observation, sale_observation
from infra.recalibration import missed_by
from infra.settings import Settings
from jobs.service import BulkRow
from schemas import Interval, ModelRef
from schemas.api import ErrorBody
from schemas.feedback import FeedbackAccepted, FeedbackCreate, Observed
from state import State

router = APIRouter(tags=["feedback"])


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackAccepted,
    responses={
        404: {"model": ErrorBody, "description": "Unknown request, or created by another key."},
        409: {"model": ErrorBody, "description": "The request is not scored yet, or already has feedback."},
        503: {"model": ErrorBody, "description": "The result store is not reachable; see Retry-After."},
    },
)
async def give_feedback(
    body: FeedbackCreate, store: StateDep, viewer: ViewerDep, settings: SettingsDep, jobs: JobsDep
) -> FeedbackAccepted:
    """Record the sale price later observed for a scored request; answers the updated figures and
    recalibrates the intervals of the request's segment. The sale counts for the variant that answered,
    and for the other one too when it scored the request in shadow (its figures, and its own intervals'
    recalibration in the shadow answer's segment); such a sale, valued by both, is what the promotion
    guard compares them on.

    A row of a file job is named by its `request_id` in the job's results (`{job_id}-{row}`). Its answer
    is kept in brief, without the house, so its sale counts for the model version and the champion's
    live accuracy, under the neighbourhood `unknown`; it recalibrates no segment and joins no ratio study."""
    result = await store.predictions.get(body.request_id)
    if result is None:
        row = await jobs.bulk_row(body.request_id, viewer)
        if row is not None:
            return await bulk_row_feedback(store, row, body)
    if result is None or not viewer.sees(await store.predictions.owner(body.request_id, result)):
        raise ApiError(404, "not_found", f"no prediction {body.request_id}")
    if result.status != "done" or result.price is None or result.model is None:
        raise ApiError(409, "not_scored", f"prediction {body.request_id} has no price ({result.status})")
    if not await store.feedback.claim(body.request_id, body.sale_price):
        raise ApiError(409, "feedback_exists", f"prediction {body.request_id} already has feedback")
    observed = observation(result, body.sale_price)
    segment = await store.predictions.segment(body.request_id)
    figures = await store.feedback.record(segment.get("neighborhood", UNKNOWN), result.model.version, observed)
    export(figures)
    await store.rollout.observe_sale(result.model.version, observed)
    await shadow_feedback(store, settings, result.model, observed, body)
    if (sale := sale_observation(result, body.sale_price, segment)) is not None:
        await store.feedback.observe(sale)
    if result.segment is not None:  # results written before recalibration have none
        missed = missed_by(result.intervals, body.sale_price)
        await store.calibration.observe(
            result.model.version, result.segment, missed, settings.calibration_learning_rate
        )
    return FeedbackAccepted(
        request_id=body.request_id,
        absolute_pct_error=observed[0],
        variant=result.model.variant,
        model_version=result.model.version,
        figures=figures,
    )


async def shadow_feedback(
    store: State, settings: Settings, answered_by: ModelRef, observed: Observed, body: FeedbackCreate
) -> None:
    """The sale against the other variant's shadow answer to the request, when one is stored: it counts for
    that version's figures and moves its own recalibration, and the pair goes to the promotion guard's
    figures, both versions on this same sale."""
    shadow = await store.rollout.shadow(body.request_id)
    if shadow is None or shadow.price is None or shadow.model.version == answered_by.version:
        return
    shadowed = error_of(shadow.price, shadow.intervals, body.sale_price)
    await store.rollout.observe_sale(shadow.model.version, shadowed)
    if shadow.segment is not None and shadow.intervals:
        await store.calibration.observe(
            shadow.model.version,
            shadow.segment,
            missed_by(shadow.intervals, body.sale_price),
            settings.calibration_learning_rate,
        )
    sides = {
        answered_by.variant: (answered_by.version, observed),
        shadow.model.variant: (shadow.model.version, shadowed),
    }
    if "champion" in sides and "challenger" in sides:
        (champion, ours), (challenger, theirs) = sides["champion"], sides["challenger"]
        await store.rollout.observe_pair((champion, challenger), ours, theirs)


async def bulk_row_feedback(store: State, row: BulkRow, body: FeedbackCreate) -> FeedbackAccepted:
    """A sale for a file job's row, from the job's compact answers (bulk rows are answered by the champion)."""
    outcome = row.outcome
    if outcome is None or outcome.status != "done" or outcome.price is None or row.model_version is None:
        state = "queued" if outcome is None else outcome.status
        raise ApiError(409, "not_scored", f"row {row.row} of job {row.job_id} has no price ({state})")
    if not await store.feedback.claim_row(row.job_id, row.row, body.sale_price):
        raise ApiError(409, "feedback_exists", f"prediction {body.request_id} already has feedback")
    ninety = (
        [Interval(level=0.9, lower=outcome.lower_90, upper=outcome.upper_90)]
        if outcome.lower_90 is not None and outcome.upper_90 is not None
        else []
    )
    observed = error_of(outcome.price, ninety, body.sale_price)
    figures = await store.feedback.record(UNKNOWN, row.model_version, observed)
    export(figures)
    await store.rollout.observe_sale(row.model_version, observed)
    return FeedbackAccepted(
        request_id=body.request_id,
        absolute_pct_error=observed[0],
        variant="champion",
        model_version=row.model_version,
        figures=figures,
    )
