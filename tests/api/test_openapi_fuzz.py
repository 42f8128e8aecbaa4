"""Schemathesis over the whole OpenAPI document: every operation, generated inputs (valid and
not), as an admin: no server error, and every answer matches the schema it documents
(SQLite and PostgreSQL). A bounded number of examples per operation keeps this in
`make test`; `make fuzz` runs many more (docs/performance.md has its figures)."""

from __future__ import annotations

import os
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.api.conftest import Api

EXAMPLES = int(os.environ.get("TOCSIN_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, response_schema_conformance]


def fuzz(operation: schemathesis.APIOperation, api: Api, answers: Counter[int]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same cases every run, so a failure here is repeatable
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def one_case(case: schemathesis.Case) -> None:
        response = case.call(headers=api.headers("admin"))
        answers[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    one_case()


def test_no_operation_answers_a_server_error_or_off_its_schema(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    failures = []
    answers: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            fuzz(operation, api, answers)
        except Exception as failure:  # collect every operation's, then report them all
            failures.append(f"{operation.label}: {str(failure)[:800]}")
    print(f"\n{sum(answers.values())} cases; answers by status: {dict(sorted(answers.items()))}")
    assert not failures, "\n\n".join(failures)
