"""Where a Microsoft sign-in may send the browser afterwards: a path of this site only."""

import pytest

from csp.api.oidc import safe_next


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        (None, "/"),
        ("", "/"),
        ("/orders?status=draft", "/orders?status=draft"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_next_is_a_path_of_this_site(given, safe):
    assert safe_next(given) == safe
