from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.media_accepted import MediaAccepted
from ...models.media_create_body import MediaCreateBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: MediaCreateBody,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/media",
    }

    _kwargs["files"] = body.to_multipart()

    headers["Content-Type"] = "multipart/form-data; boundary=+++"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | MediaAccepted | None:
    if response.status_code == 200:
        response_200 = MediaAccepted.from_dict(response.json())

        return response_200

    if response.status_code == 202:
        response_202 = MediaAccepted.from_dict(response.json())

        return response_202

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
) -> Response[ErrorBody | MediaAccepted]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: MediaCreateBody,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorBody | MediaAccepted]:
    """Upload an image

     Stores the original and queues processing; answers 202 with the media
    and job ids. The content type is detected from the bytes. With an
    `Idempotency-Key` header, repeating the request returns the first
    upload (200) instead of creating another.

    Args:
        idempotency_key (str | Unset):
        body (MediaCreateBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MediaAccepted]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: MediaCreateBody,
    idempotency_key: str | Unset = UNSET,
) -> ErrorBody | MediaAccepted | None:
    """Upload an image

     Stores the original and queues processing; answers 202 with the media
    and job ids. The content type is detected from the bytes. With an
    `Idempotency-Key` header, repeating the request returns the first
    upload (200) instead of creating another.

    Args:
        idempotency_key (str | Unset):
        body (MediaCreateBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MediaAccepted
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: MediaCreateBody,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorBody | MediaAccepted]:
    """Upload an image

     Stores the original and queues processing; answers 202 with the media
    and job ids. The content type is detected from the bytes. With an
    `Idempotency-Key` header, repeating the request returns the first
    upload (200) instead of creating another.

    Args:
        idempotency_key (str | Unset):
        body (MediaCreateBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | MediaAccepted]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: MediaCreateBody,
    idempotency_key: str | Unset = UNSET,
) -> ErrorBody | MediaAccepted | None:
    """Upload an image

     Stores the original and queues processing; answers 202 with the media
    and job ids. The content type is detected from the bytes. With an
    `Idempotency-Key` header, repeating the request returns the first
    upload (200) instead of creating another.

    Args:
        idempotency_key (str | Unset):
        body (MediaCreateBody):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | MediaAccepted
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
