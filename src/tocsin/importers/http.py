"""One vendor's REST API over httpx: JSON answers, rate limits honoured, errors named.

A 429 is retried after the wait the API asks for (`Retry-After`, in seconds or as a date;
Opsgenie also sends `X-RateLimit-Period-In-Sec`), a few times, never longer than a minute at
a time; any other failure stops the import with the vendor's own message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tocsin.importers.model import Progress, no_progress

MAX_WAIT_S = 60.0
RETRIES = 6
PERIOD_HEADERS = ("retry-after", "x-ratelimit-period-in-sec")


class SourceError(Exception):
    """The source's API refused or failed; the message says which request and why."""


def retry_after(headers: Mapping[str, str], attempt: int) -> float:
    """Seconds to wait before trying again: what the API asked for, else a doubling backoff."""
    for name in PERIOD_HEADERS:
        value = headers.get(name)
        if value:
            return min(MAX_WAIT_S, max(0.0, _seconds(value)))
    return min(MAX_WAIT_S, 2.0**attempt)


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        when = parsedate_to_datetime(value)
        return (when - datetime.now(UTC)).total_seconds()


class VendorApi:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        progress: Progress = no_progress,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.progress, self._sleep = progress, sleep
        self._client = httpx.Client(
            base_url=self.base_url, headers=dict(headers), timeout=timeout, follow_redirects=True
        )

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a path (or a full URL, as pagination links are) and return its JSON."""
        self.progress(path.split("?", maxsplit=1)[0])
        for attempt in range(RETRIES):
            response = self._request(path, params)
            if response.status_code != 429:
                return self._json(path, response)
            self._sleep(retry_after(response.headers, attempt))
        raise SourceError(f"GET {path}: still rate-limited (429) after {RETRIES} tries")

    def _request(self, path: str, params: Mapping[str, Any] | None) -> httpx.Response:
        try:
            return self._client.get(path, params=dict(params) if params else None)
        except httpx.HTTPError as error:
            raise SourceError(f"GET {self.base_url}{path}: {error}") from error

    @staticmethod
    def _json(path: str, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise SourceError(f"GET {path}: {response.status_code} {response.text[:300]}")
        try:
            return response.json()
        except ValueError as error:
            raise SourceError(f"GET {path}: the answer is not JSON") from error
