from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.my_report_out import MyReportOut
from ...models.report_in import ReportIn
from ...types import Response


def _get_kwargs(
    *,
    body: ReportIn,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/reports",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | MyReportOut | None:
    if response.status_code == 200:
        response_200 = MyReportOut.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = MyReportOut.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorBody | MyReportOut]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: ReportIn,
) -> Response[ErrorBody | MyReportOut]:
    """Report something

     Files a report on media you can see, an account (not your own), or an
    object of your own (`external`). A `report.triage` job then scores
    the target. You have at most one open report per target: repeating
    it answers 200 with that report. At most `reports.max_per_hour`
    reports an hour (429 with Retry-After). Any signed-in user (scope
    `reports:write`).

    Args:
        body (ReportIn): A report to file.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MyReportOut]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: ReportIn,
) -> ErrorBody | MyReportOut | None:
    """Report something

     Files a report on media you can see, an account (not your own), or an
    object of your own (`external`). A `report.triage` job then scores
    the target. You have at most one open report per target: repeating
    it answers 200 with that report. At most `reports.max_per_hour`
    reports an hour (429 with Retry-After). Any signed-in user (scope
    `reports:write`).

    Args:
        body (ReportIn): A report to file.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MyReportOut
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: ReportIn,
) -> Response[ErrorBody | MyReportOut]:
    """Report something

     Files a report on media you can see, an account (not your own), or an
    object of your own (`external`). A `report.triage` job then scores
    the target. You have at most one open report per target: repeating
    it answers 200 with that report. At most `reports.max_per_hour`
    reports an hour (429 with Retry-After). Any signed-in user (scope
    `reports:write`).

    Args:
        body (ReportIn): A report to file.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MyReportOut]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: ReportIn,
) -> ErrorBody | MyReportOut | None:
    """Report something

     Files a report on media you can see, an account (not your own), or an
    object of your own (`external`). A `report.triage` job then scores
    the target. You have at most one open report per target: repeating
    it answers 200 with that report. At most `reports.max_per_hour`
    reports an hour (429 with Retry-After). Any signed-in user (scope
    `reports:write`).

    Args:
        body (ReportIn): A report to file.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MyReportOut
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
