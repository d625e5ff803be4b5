from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.purged_out import PurgedOut
from ...models.queue_name import QueueName
from ...types import Response


def _get_kwargs(
    queue: QueueName,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/queues/{queue}/dead".format(
            queue=quote(str(queue), safe=""),
        ),
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | PurgedOut | None:
    if response.status_code == 200:
        response_200 = PurgedOut.from_dict(response.json())

        return response_200

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
) -> Response[ErrorBody | PurgedOut]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    queue: QueueName,
    *,
    client: AuthenticatedClient,
) -> Response[ErrorBody | PurgedOut]:
    """Purge dead jobs

     Deletes every dead job of the queue (their ledger rows and last
    errors), except those a media item points to; the answer counts
    both. Operators and admins only.

    Args:
        queue (QueueName): A queue.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PurgedOut]
    """

    kwargs = _get_kwargs(
        queue=queue,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    queue: QueueName,
    *,
    client: AuthenticatedClient,
) -> ErrorBody | PurgedOut | None:
    """Purge dead jobs

     Deletes every dead job of the queue (their ledger rows and last
    errors), except those a media item points to; the answer counts
    both. Operators and admins only.

    Args:
        queue (QueueName): A queue.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PurgedOut
    """

    return sync_detailed(
        queue=queue,
        client=client,
    ).parsed


async def asyncio_detailed(
    queue: QueueName,
    *,
    client: AuthenticatedClient,
) -> Response[ErrorBody | PurgedOut]:
    """Purge dead jobs

     Deletes every dead job of the queue (their ledger rows and last
    errors), except those a media item points to; the answer counts
    both. Operators and admins only.

    Args:
        queue (QueueName): A queue.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | PurgedOut]
    """

    kwargs = _get_kwargs(
        queue=queue,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    queue: QueueName,
    *,
    client: AuthenticatedClient,
) -> ErrorBody | PurgedOut | None:
    """Purge dead jobs

     Deletes every dead job of the queue (their ledger rows and last
    errors), except those a media item points to; the answer counts
    both. Operators and admins only.

    Args:
        queue (QueueName): A queue.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | PurgedOut
    """

    return (
        await asyncio_detailed(
            queue=queue,
            client=client,
        )
    ).parsed
