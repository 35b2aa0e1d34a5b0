"""The CloudFront Function and the distribution agree on header names and the cache key."""

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time

import pytest

from conftest import TERRAFORM
from terraform_model import load_module, unquote

HARNESS = TERRAFORM / "cloudfront" / "test" / "run.mjs"
SECRET = "k" * 43


def encode(part):
    return base64.urlsafe_b64encode(part).rstrip(b"=").decode()


def token(scope, expires_in=600, **extra):
    header = encode(json.dumps({"alg": "HS256", "kid": "test"}).encode())
    now = int(time.time())
    claims = encode(json.dumps({"sub": scope, "iat": now, "exp": now + expires_in, **extra}).encode())
    signature = hmac.new(SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{encode(signature)}"


def run_function(cases, tmp_path, store=None):
    node = shutil.which("node")
    assert node, "node is needed to run the CloudFront Function"
    cases_file = tmp_path / "cases.json"
    store = {"playback-key:test": SECRET, **(store or {})}
    cases_file.write_text(json.dumps({"store": store, "cases": cases}))
    result = subprocess.run([node, str(HARNESS), str(cases_file)], capture_output=True, text=True, check=True)
    return {entry["name"]: entry for entry in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def header_names():
    module = load_module(TERRAFORM / "modules" / "cdn")
    return unquote(module.locals["verified_header"]), unquote(module.locals["token_header"])


def test_verified_request_loses_its_token_from_the_uri(tmp_path, header_names):
    verified_header, token_header = header_names
    valid = token("live/main/")
    results = run_function(
        [
            {"name": "playlist", "uri": f"/t/{valid}/live/main/index.m3u8", "ip": "203.0.113.7"},
            {"name": "part", "uri": f"/t/{valid}/live/main/seg12.3.m4s", "ip": "203.0.113.7"},
        ],
        tmp_path,
    )
    for name, uri in (("playlist", "/live/main/index.m3u8"), ("part", "/live/main/seg12.3.m4s")):
        assert results[name]["status"] is None
        # The cache key's URI is the plain path: one entry for every token holder.
        assert results[name]["uri"] == uri
        # The header the cache key includes, and the one the origin request policy forwards.
        assert results[name]["headers"][verified_header] == "1"
        assert results[name]["headers"][token_header] == valid


def test_with_on_play_sessions_only_session_tokens_reach_media(tmp_path):
    api_token = token("live/main/")
    session = token("live/main/", ses=True, sid="0123abcd")
    cases = [
        {"name": "api token, segment", "uri": f"/t/{api_token}/live/main/seg12.m4s", "ip": "203.0.113.7"},
        {"name": "api token, media playlist", "uri": f"/t/{api_token}/live/main/media.m3u8", "ip": "203.0.113.7"},
        {"name": "api token, session start", "uri": f"/t/{api_token}/live/main/index.m3u8", "ip": "203.0.113.7"},
        {"name": "session, segment", "uri": f"/t/{session}/live/main/seg12.m4s", "ip": "203.0.113.7"},
        {"name": "session, media playlist", "uri": f"/t/{session}/live/main/media.m3u8", "ip": "203.0.113.7"},
    ]
    required = run_function(cases, tmp_path, store={"on-play-sessions": "required"})
    # Expected: a token that is not a session gets 401 (load index.m3u8 for one) on every file but
    # index.m3u8, so it cannot read media that session holders put in the cache.
    assert required["api token, segment"]["status"] == 401
    assert required["api token, media playlist"]["status"] == 401
    assert required["api token, session start"]["status"] is None
    assert required["session, segment"]["status"] is None
    assert required["session, media playlist"]["status"] is None
    # Without the entry (no on_play webhook) any valid token reads media.
    assert all(result["status"] is None for result in run_function(cases, tmp_path).values())


def test_forged_headers_are_removed_outside_the_token_path(tmp_path, header_names):
    verified_header, token_header = header_names
    forged = {verified_header: "1", token_header: "anything"}
    results = run_function(
        [
            {"name": "plain", "uri": "/live/main/seg12.m4s", "ip": "203.0.113.7", "headers": forged},
            {"name": "wrong scope", "uri": f"/t/{token('live/other/')}/live/main/seg12.m4s", "ip": "203.0.113.7"},
        ],
        tmp_path,
    )
    assert results["plain"]["uri"] == "/live/main/seg12.m4s"
    assert verified_header not in results["plain"]["headers"]
    assert token_header not in results["plain"]["headers"]
    assert results["wrong scope"]["status"] == 403
