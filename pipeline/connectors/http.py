"""Polite HTTP with the standard library: one request at a time, a timeout, a few retries with backoff, our User-Agent."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from pipeline.connectors.config import HttpSettings

LOGGER = logging.getLogger("pipeline.connectors")
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAXIMUM_RESPONSE_BYTES = 20 * 1024 * 1024


class FetchError(Exception):
    """A source that could not be fetched; the message names the URL and what went wrong."""


class MalformedResponse(Exception):
    """An answer that is not shaped like the publisher's format; the message says what was expected."""


@dataclass(frozen=True)
class FetchedResponse:
    """The bytes of a successful answer and what the server said about them."""

    url: str
    body: bytes
    content_type: str


def url_with_query(url: str, parameters: dict[str, str] | None) -> str:
    """The URL with its query parameters encoded (the parameters' order is kept)."""
    if not parameters:
        return url
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + separator + urllib.parse.urlencode(parameters)


def fetch_url(url: str, settings: HttpSettings, sleep=time.sleep) -> FetchedResponse:
    """GET one URL; retry timeouts, connection errors and 429/5xx answers with exponential backoff; raise FetchError."""
    request = urllib.request.Request(url, headers={"User-Agent": settings.user_agent, "Accept": "*/*"})
    attempts = settings.retries + 1
    last_problem = ""
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
                body = response.read(MAXIMUM_RESPONSE_BYTES + 1)
                if len(body) > MAXIMUM_RESPONSE_BYTES:
                    raise FetchError(f"{url}: the answer is larger than {MAXIMUM_RESPONSE_BYTES} bytes")
                return FetchedResponse(url=url, body=body, content_type=response.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as error:
            last_problem = f"HTTP {error.code} {error.reason}"
            if error.code not in RETRYABLE_STATUS:
                raise FetchError(f"{url}: {last_problem} (not retried)") from error
        except TimeoutError as error:
            last_problem = f"no answer within {settings.timeout_seconds:g} s ({error})"
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                last_problem = f"no answer within {settings.timeout_seconds:g} s"
            else:
                last_problem = f"unreachable: {reason}"
        except (ConnectionError, OSError) as error:
            last_problem = f"connection failed: {error}"
        if attempt < attempts:
            delay = settings.backoff_seconds * 2 ** (attempt - 1)
            LOGGER.info("%s: %s; retry %d of %d in %.1f s", url, last_problem, attempt, settings.retries, delay)
            sleep(delay)
    raise FetchError(f"{url}: {last_problem} after {attempts} attempt(s)")
