"""Keep credentials out of what the tool prints and records."""

import re

URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@]+@")


def url_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``***@``."""
    return URL_CREDENTIALS.sub("***@", text)
