import pytest

from dashboards.redirects import HOME, safe_next


@pytest.mark.parametrize("local", ["/", "/keys", "/audit?from=now-1h&action=api_key.create", "/a/b#frag"])
def test_local_paths_are_kept(local):
    assert safe_next(local) == local


@pytest.mark.parametrize(
    "hostile",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "/\\/evil.example",
        "javascript:alert(1)",
        "evil.example/keys",
        "/keys\r\nSet-Cookie: x=1",
        "/%0d%0a" + "\t//evil.example",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_goes_home(hostile):
    assert safe_next(hostile) == HOME
