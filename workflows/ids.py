"""Workflow ids, request numbers and search attributes: the one place that names journeys.

Ids carry business meaning so an operator can find a journey in the Temporal UI from
the request number a candidate reads on the phone: ``inscription-2611K7Q3ZP9A``.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

# Re-exported: callers find every naming helper here.
from workflows.request_numbers import is_request_number as is_request_number
from workflows.request_numbers import new_request_number as new_request_number

INSCRIPTION_PREFIX = "inscription-"
TITLE_PREFIX = "title-"
# The card's delivery: a child of the title journey, signalled by the production service.
DELIVERY_PREFIX = "delivery-"


def inscription_workflow_id(request_number: str) -> str:
    return f"{INSCRIPTION_PREFIX}{request_number}"


def title_workflow_id(request_number: str) -> str:
    return f"{TITLE_PREFIX}{request_number}"


def delivery_workflow_id(request_number: str) -> str:
    return f"{DELIVERY_PREFIX}{request_number}"


def request_number_of(workflow_id: str) -> str:
    return workflow_id.split("-", 1)[1]


# Typed search attributes (Keyword). Never one called "Status": the UI hides it.
REQUEST_NUMBER = SearchAttributeKey.for_keyword("PermisRequestNumber")
JOURNEY = SearchAttributeKey.for_keyword("PermisJourney")
MOTIF = SearchAttributeKey.for_keyword("PermisMotif")
CATEGORY = SearchAttributeKey.for_keyword("PermisCategory")
DEPARTMENT = SearchAttributeKey.for_keyword("PermisDepartment")
STAGE = SearchAttributeKey.for_keyword("PermisStage")
ACCOUNT_ID = SearchAttributeKey.for_keyword("PermisAccountId")

SEARCH_ATTRIBUTES = (REQUEST_NUMBER, JOURNEY, MOTIF, CATEGORY, DEPARTMENT, STAGE, ACCOUNT_ID)


def at_start(journey: str, request_number: str, account_id: str) -> TypedSearchAttributes:
    """What a journey's starter sets with the start (the workflow upserts the same values
    in its first task): a status read by describe then finds the owner and the stage
    even before the worker has run that task."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(REQUEST_NUMBER, request_number),
            SearchAttributePair(JOURNEY, journey),
            SearchAttributePair(ACCOUNT_ID, account_id),
            SearchAttributePair(STAGE, "draft"),
        ]
    )
