"""Security negatives (SAFETY.md, local server): no token, a wrong token, a foreign Host header and
a CORS preflight are all refused before anything is served, with no CORS header in any answer;
the token file is the user's alone and its token is made once."""

import http.client
import json
import os
import stat
from urllib.parse import urlsplit

import pytest

from core.server import load_or_create_token
from core.server.guard import host_name, is_loopback

from .fake_engine import FakeEngine
from .harness import TOKEN, client

BODY = json.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]})


def request(url, method, path, *, headers=None, body=None):
    """A raw request (http.client sends our Host header as given); returns status, headers, JSON."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        data = reply.read()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, json.loads(data) if data else None
    finally:
        conn.close()


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.fixture
def server(serve):
    engine = FakeEngine()
    return serve(engine), engine


def test_the_right_token_is_served(server):
    url, engine = server
    status, _, body = request(url, "POST", "/v1/chat/completions", headers=auth(), body=BODY)
    assert status == 200 and body["choices"][0]["message"]["content"] == "echo: hi "


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"bearer {TOKEN[:-1]}"},
    ],
)
def test_no_token_or_a_wrong_one_is_refused_everywhere(server, headers):
    url, engine = server
    for method, path in [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/health"),
        ("GET", "/nowhere"),
    ]:
        status, got, body = request(url, method, path, headers=headers, body=BODY if method == "POST" else None)
        assert (status, body["error"]["type"]) == (401, "authentication_error"), (method, path)
        assert got["www-authenticate"] == "Bearer"
    assert engine.requests == []


def test_the_official_client_with_a_wrong_key_gets_a_401(server):
    import openai

    with pytest.raises(openai.AuthenticationError):
        client(server[0], token="not-it").models.list()


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "", "192.168.1.2:8000", "localhost.evil.example"],
)
def test_a_foreign_host_header_is_refused_even_with_the_token(server, host):
    url, engine = server
    status, _, body = request(url, "POST", "/v1/chat/completions", headers={**auth(), "Host": host}, body=BODY)
    assert (status, body["error"]["code"]) == (403, "bad_host")
    assert engine.requests == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.1:1234", "[::1]:8000", "[::1]"])
def test_loopback_host_names_are_served(server, host):
    status, _, _ = request(server[0], "GET", "/v1/models", headers={**auth(), "Host": host})
    assert status == 200


def test_a_cors_preflight_gets_no_allow_origin(server):
    url, engine = server
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    status, headers, _ = request(url, "OPTIONS", "/v1/chat/completions", headers=preflight)
    assert status == 401 and not any(h.startswith("access-control-") for h in headers)
    # even a preflight that carries the token (browsers never send one) is not allowed
    status, headers, _ = request(url, "OPTIONS", "/v1/chat/completions", headers={**preflight, **auth()})
    assert status == 405 and not any(h.startswith("access-control-") for h in headers)
    # and a real cross-origin request gets its answer without any CORS header, so a page cannot read it
    status, headers, _ = request(
        url, "POST", "/v1/chat/completions", headers={**auth(), "Origin": "https://evil.example"}, body=BODY
    )
    assert status == 200 and not any(h.startswith("access-control-") for h in headers)


def test_an_exposed_server_accepts_only_the_names_it_was_given(serve):
    url = serve(FakeEngine(), extra_hosts=["studio.lan"])
    assert request(url, "GET", "/v1/models", headers={**auth(), "Host": "studio.lan:8000"})[0] == 200
    assert request(url, "GET", "/v1/models", headers={**auth(), "Host": "evil.example"})[0] == 403


def test_the_token_file_is_made_once_and_only_the_user_can_read_it(tmp_path):
    path = tmp_path / "serve-token"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == (token, False)
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_token(path)


def test_host_names():
    assert [host_name(h) for h in ["[::1]:80", "localhost:1", "127.0.0.1", "::1", "[::1]"]] == [
        "::1",
        "localhost",
        "127.0.0.1",
        "::1",
        "::1",
    ]
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.8.9.1", "::1"]))
    assert not any(map(is_loopback, ["", "0.0.0.0", "10.0.0.1", "localhost.evil.example", "::"]))


def test_the_command_refuses_an_address_off_loopback_without_expose(tmp_path, capsys, monkeypatch):
    from app.__main__ import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    model = tmp_path / "m.fake"
    model.write_text("{}")
    token_file = tmp_path / "token"
    assert main(["serve", "--model", str(model), "--host", "0.0.0.0", "--token-file", str(token_file)]) == 2
    assert "pass --expose" in capsys.readouterr().err and not token_file.exists()
