"""The sample API as a real server process: the demo's S1–S6 (shorter pauses)
and a smoke test of every endpoint, the schema and the Swagger UI served
without network."""

from __future__ import annotations

import re

import pytest

from sample_api.play_demo import (
    Demo,
    Server,
    failures,
    play_all,
    play_s7,
    play_s7_conclusively,
    request,
    s7_failures,
)

PAUSE = 0.8


@pytest.fixture(scope="module")
def server():
    running = Server(PAUSE).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def demo(server):
    return Demo(server.url, PAUSE)


def test_demo_scenarios_naive_loses_every_race_protected_none(demo):
    runs = play_all(demo)
    assert len(runs) == 24
    lost, unexpected = failures(runs)
    assert not lost, [(r.scenario, r.resource, r.status) for r in lost]
    assert not unexpected, [(r.scenario, r.resource, r.status) for r in unexpected]
    codes = {(r.scenario, r.resource): r.code for r in runs if r.mode == "protected"}
    assert codes[("S1", "notes")] == codes[("S6", "documents")] == "token_revoked"
    assert codes[("S2", "documents")] == "token_version_stale"
    assert codes[("S3", "notes")] == codes[("S4", "documents")] == "not_found"
    assert codes[("S5", "notes")] == codes[("S5", "documents")] == "precondition_failed"


def test_demo_s7_one_refresh_token_replayed(server):
    naive, protected = play_s7_conclusively(server.url, "naive"), play_s7(server.url, "protected")
    assert not s7_failures(naive, protected)
    assert naive.winners > 1 and naive.alive == naive.winners  # several live sessions from one token
    assert naive.replay == "401 token_not_valid" and naive.rotated_alive
    assert protected.winners == 1 and protected.alive == 0
    assert set(protected.refused) <= {"401 token_reused", "401 session_revoked"}
    assert protected.replay == "401 token_reused" and not protected.rotated_alive


@pytest.mark.parametrize("resource", ["notes", "documents"])
def test_every_resource_endpoint(demo, resource):
    token = demo.login("alice")
    call = demo.call
    status, made, headers = call("POST", f"/api/{resource}/", token, {"title": "smoke"})
    assert status == 201 and headers["ETag"]
    path = f"/api/{resource}/{made['id']}/"
    assert made["id"] in [item["id"] for item in call("GET", f"/api/{resource}/", token)[1]]
    status, got, headers = call("GET", path, token)
    assert status == 200 and got["title"] == "smoke"
    assert call("PATCH", path, token, {"title": "patched"}, **{"If-Match": headers["ETag"]})[0] == 200
    assert call("PUT", path, token, {"title": "put"})[0] == 200
    naive = f"/api/naive/{resource}/{demo.raw_key(resource, made['id'], 'alice')}/"
    assert call("GET", naive, token)[0] == 200
    assert call("PATCH", naive, token, {"title": "naive"})[0] == 200
    bob = demo.login("bob")
    assert call("GET", path, bob)[1]["code"] == "not_found"
    assert call("POST", f"{path}transfer/", token, {"to": demo.ids["bob"]})[0] == 200
    if resource == "documents":  # references are per user: bob's for the same document differs
        [mine] = [d for d in call("GET", f"/api/{resource}/", bob)[1] if d["title"] == "naive"]
        assert mine["id"] != made["id"] and call("GET", path, bob)[0] == 404
        path = f"/api/{resource}/{mine['id']}/"
    assert call("GET", path, bob)[0] == 200
    assert call("DELETE", path, bob)[0] == 204
    assert call("GET", path, bob)[0] == 404


def test_auth_endpoints(demo):
    status, pair, _ = demo.call("POST", "/api/auth/token/", body={"username": "bob", "password": "bob-demo-password"})
    assert status == 200
    status, refreshed, _ = demo.call("POST", "/api/auth/token/refresh/", body={"refresh": pair["refresh"]})
    assert status == 200 and "refresh" in refreshed  # the sample rotates refresh tokens
    assert demo.call("GET", "/api/me/", refreshed["access"])[0] == 200
    assert demo.call("GET", "/api/auth/sessions/", refreshed["access"])[1][0]["current"] is True
    assert demo.call("POST", "/api/auth/logout/", refreshed["access"], {"refresh": refreshed["refresh"]})[0] == 204
    assert demo.call("GET", "/api/me/", refreshed["access"])[1]["code"] == "token_revoked"
    # a replay of the rotated-out refresh token: reuse detected
    assert demo.call("POST", "/api/auth/token/refresh/", body={"refresh": pair["refresh"]})[1]["code"] == "token_reused"
    other = demo.login("bob")
    assert demo.call("POST", "/api/auth/logout-all/", other)[0] == 204
    assert demo.call("GET", "/api/me/", other)[1]["code"] == "token_version_stale"
    assert demo.call("GET", "/api/me/")[1]["code"] == "not_authenticated"


def test_schema_and_swagger_ui_without_network(server):
    status, schema, _ = request(server.url, "GET", "/api/schema/?format=json")
    assert status == 200
    assert "/api/documents/{id}/" in schema["paths"] or any("documents" in p for p in schema["paths"])
    assert schema["components"]["securitySchemes"]["jwtAuth"]["bearerFormat"] == "JWT"
    documented = schema["paths"]["/api/notes/{id}/"]["patch"]["responses"]
    assert {"200", "401", "404", "409", "412", "503"} <= set(documented)
    sessions = schema["paths"]["/api/auth/sessions/"]["get"]["responses"]
    assert {"200", "401", "503"} <= set(sessions)
    listed = sessions["200"]["content"]["application/json"]["schema"]
    assert listed["type"] == "array"
    assert {"204", "404"} <= set(schema["paths"]["/api/auth/sessions/{session_id}/"]["delete"]["responses"])
    assert "204" in schema["paths"]["/api/auth/sessions/others/"]["delete"]["responses"]
    status, page, _ = request(server.url, "GET", "/api/docs/")
    assert status == 200 and "swagger-ui" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(not a.startswith("http") for a in assets), assets
    for asset in assets:
        if asset.startswith("/static/"):
            assert request(server.url, "GET", asset)[0] == 200, asset


def test_naive_endpoints_refuse_to_load_outside_the_sample_project():
    import importlib
    import sys

    from django.core.exceptions import ImproperlyConfigured

    sys.modules.pop("sample_api.api.naive", None)
    with pytest.raises(ImproperlyConfigured):
        importlib.import_module("sample_api.api.naive")


def test_demo_pause_is_inert_outside_the_demo_settings():
    from sample_api.api.demo import pause_seconds

    assert pause_seconds() == 0.0


def test_demo_s8_the_watcher_reports_a_write_around_the_api(server, demo):
    from sample_api.demo_streams import play_s8

    run = play_s8(server, demo)
    assert run.detected, run
    assert run.refused == "401 token_revoked"
    assert run.finding["severity"] == "high" and run.finding["writer"]["user_id"] == str(demo.ids["alice"])
    assert run.latency < 5, run.latency
    assert run.naive_id != run.protected_id and run.naive_id not in run.protected_id


def test_schema_describes_document_references_as_opaque_strings(server):
    schema = request(server.url, "GET", "/api/schema/?format=json")[1]
    [parameter] = [p for p in schema["paths"]["/api/documents/{id}/"]["get"]["parameters"] if p["in"] == "path"]
    assert parameter["schema"] == {"type": "string"} and "opaque reference" in parameter["description"]
    document = schema["components"]["schemas"]["ReferencedDocument"]["properties"]["id"]
    assert document["type"] == "string" and document["readOnly"] and "opaque reference" in document["description"]


def test_bob_crawling_alices_references_and_raw_keys_hits_nothing(demo):
    alice, bob = demo.login("alice"), demo.login("bob")
    for i in range(5):
        assert demo.call("POST", "/api/documents/", alice, {"title": f"crawl-{i}"})[0] == 201
    references = [d["id"] for d in demo.call("GET", "/api/documents/", alice)[1] if d["title"].startswith("crawl-")]
    raw_keys = [demo.raw_key("documents", reference, "alice") for reference in references]
    gone = demo.call("POST", "/api/documents/", bob, {"title": "gone"})[1]["id"]
    assert demo.call("DELETE", f"/api/documents/{gone}/", bob)[0] == 204

    def crawl(token, value):
        path = f"/api/documents/{value}/"
        return [demo.call(method, path, token, body)[:2] for method, path, body in [
            ("GET", path, None), ("PATCH", path, {"title": "x"}), ("PUT", path, {"title": "x"}),
            ("POST", f"{path}transfer/", {"to": demo.ids["bob"]}), ("DELETE", path, None)]]

    absent = crawl(bob, gone)
    assert {status for status, _ in absent} == {404}
    answers = [crawl(bob, value) for value in references + raw_keys] + [crawl(alice, key) for key in raw_keys]
    assert sum(status < 400 for answer in answers for status, _ in answer) == 0  # 0 hits
    assert all(answer == absent for answer in answers)  # the same 404 as a missing object, body included
    assert not [d for d in demo.call("GET", "/api/documents/", bob)[1] if d["title"].startswith("crawl-")]
    assert all(demo.call("GET", f"/api/documents/{r}/", alice)[0] == 200 for r in references)
