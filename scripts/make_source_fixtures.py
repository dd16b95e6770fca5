#!/usr/bin/env python3
"""Write fixtures/team, fixtures/stream-json and fixtures/otlp (deterministic).

Run from the repository root: python3 scripts/make_source_fixtures.py
The expected figures in tests/sources.rs are printed at the end, computed
here independently of the Rust code.
"""
import json, os

root = "fixtures"
A = "aaaaaaaa-0000-4000-8000-000000000001"  # alice: transcript + stream-json copy + OTel
B = "bbbbbbbb-0000-4000-8000-000000000002"  # alice: stream-json only, complete run
B2 = "bbbbbbbb-0000-4000-8000-000000000003"  # alice: stream-json only, killed run
C = "cccccccc-0000-4000-8000-000000000004"  # bob: OTel only

def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for line in lines:
            f.write(line if isinstance(line, str) else json.dumps(line, separators=(",", ":")))
            f.write("\n")

def usage(i, o, cc, cr):
    return {"input_tokens": i, "output_tokens": o, "cache_creation_input_tokens": cc, "cache_read_input_tokens": cr}

# --- session A: transcript (alice) -------------------------------------
env = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/w/app",
       "sessionId": A, "version": "2.1.9", "gitBranch": "main"}
def t(kind, uuid, ts, **body):
    return {**env, "type": kind, **body, "uuid": uuid, "timestamp": ts}
transcript = [
    t("user", "a-u1", "2026-01-05T10:00:00.000Z", message={"role": "user", "content": "fix the build"}),
    t("assistant", "a-a1", "2026-01-05T10:00:02.000Z", requestId="req_a1",
      message={"id": "msg_a1", "model": "claude-opus-4-5", "role": "assistant",
               "content": [{"type": "text", "text": "Looking."}], "stop_reason": None, "usage": usage(10, 5, 100, 0)}),
    t("assistant", "a-a2", "2026-01-05T10:00:03.000Z", requestId="req_a1",
      message={"id": "msg_a1", "model": "claude-opus-4-5", "role": "assistant",
               "content": [{"type": "tool_use", "id": "toolu_a1", "name": "Bash", "input": {"command": "make"}}],
               "stop_reason": "tool_use", "usage": usage(10, 50, 100, 0)}),
    t("user", "a-u2", "2026-01-05T10:00:05.000Z",
      message={"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a1", "content": "ok", "is_error": False}]}),
    t("assistant", "a-a3", "2026-01-05T10:00:07.000Z", requestId="req_a2",
      message={"id": "msg_a2", "model": "claude-opus-4-5", "role": "assistant",
               "content": [{"type": "text", "text": "Fixed."}], "stop_reason": "end_turn", "usage": usage(3, 20, 0, 110)}),
]
write(f"{root}/team/alice/projects/-w-app/{A}.jsonl", transcript)

# --- stream-json (alice): a capture of A, then B (complete) and B2 (killed)
def init(sid, tools=("Bash", "Read", "Edit"), mcp=()):
    return {"type": "system", "subtype": "init", "cwd": "/w/app", "session_id": sid, "tools": list(tools),
            "mcp_servers": [{"name": m, "status": "connected"} for m in mcp], "model": "claude-opus-4-5",
            "permissionMode": "default", "apiKeySource": "none", "claude_code_version": "2.1.9", "uuid": f"init-{sid[:4]}"}
def sa(sid, msg, model, content, u, parent=None, uuid=None):
    return {"type": "assistant", "message": {"model": model, "id": msg, "type": "message", "role": "assistant",
            "content": content, "stop_reason": None, "usage": u}, "parent_tool_use_id": parent, "session_id": sid, "uuid": uuid or f"{msg}-{parent}"}
def result(sid, cost, u, turns=2):
    return {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 7000, "duration_api_ms": 5000,
            "num_turns": turns, "result": "done", "session_id": sid, "total_cost_usd": cost, "usage": u,
            "modelUsage": {}, "permission_denials": []}
stream = [
    init(A),
    # message_start usage (output 5) as stream-json 2.0 writes it: shadowed by the transcript copy.
    sa(A, "msg_a1", "claude-opus-4-5", [{"type": "text", "text": "Looking."}], usage(10, 5, 100, 0), uuid="a-a1"),
    sa(A, "msg_a2", "claude-opus-4-5", [{"type": "text", "text": "Fixed."}], usage(3, 20, 0, 110), uuid="a-a3"),
    result(A, 0.05, usage(13, 70, 100, 110)),
    init(B, mcp=("github",)),
    sa(B, "msg_b1", "claude-opus-4-5", [{"type": "tool_use", "id": "toolu_b1", "name": "Task", "input": {"prompt": "look"}}], usage(4, 40, 200, 0)),
    sa(B, "msg_b2", "claude-haiku-4-5", [{"type": "text", "text": "found it"}], usage(7, 9, 0, 0), parent="toolu_b1"),
    {"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_b1", "content": "found it"}]},
     "parent_tool_use_id": None, "session_id": B, "uuid": "b-u1", "tool_use_result": {"status": "ok"}},
    result(B, 0.02, usage(4, 40, 200, 0)),
    init(B2),
    sa(B2, "msg_b3", "claude-opus-4-5", [{"type": "text", "text": "start"}], usage(1, 2, 3, 4)),
]
write(f"{root}/team/alice/stream-json/runs.jsonl", stream)

# --- OTel (collector file exporter) -------------------------------------
def attr(k, v):
    if isinstance(v, bool): return {"key": k, "value": {"boolValue": v}}
    if isinstance(v, float): return {"key": k, "value": {"doubleValue": v}}
    if isinstance(v, int): return {"key": k, "value": {"intValue": v}}
    if isinstance(v, tuple): return {"key": k, "value": {v[0]: v[1]}}  # explicit encoding
    return {"key": k, "value": {"stringValue": v}}
def body(records, version="2.1.9"):
    return {"resourceLogs": [{"resource": {"attributes": [attr("service.name", "claude-code"), attr("service.version", version)]},
            "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events", "version": version}, "logRecords": records}]}]}
def rec(name, sid, email, ts, **attrs):
    a = [attr("session.id", sid), attr("user.email", email), attr("organization.id", "org-1"),
         attr("event.name", name), attr("event.timestamp", ts)] + [attr(k, v) for k, v in attrs.items()]
    return {"timeUnixNano": "1767607200000000000", "body": {"stringValue": f"claude_code.{name}"}, "attributes": a}
alice_otel = [
    body([rec("user_prompt", A, "Alice@Example.com", "2026-01-05T10:00:00.000Z", prompt_length=13),
          rec("api_request", A, "Alice@Example.com", "2026-01-05T10:00:03.000Z", model="claude-opus-4-5", request_id="req_a1",
              input_tokens=10, output_tokens=50, cache_read_tokens=0, cache_creation_tokens=100, cost_usd=0.03, duration_ms=2900, ttft_ms=1900),
          rec("tool_result", A, "Alice@Example.com", "2026-01-05T10:00:05.000Z", tool_name="Bash", success=("stringValue", "true"), duration_ms=1800),
          rec("api_request", A, "Alice@Example.com", "2026-01-05T10:00:07.000Z", model="claude-opus-4-5", request_id="req_a2",
              input_tokens=3, output_tokens=20, cache_read_tokens=110, cache_creation_tokens=0, cost_usd=0.02, duration_ms=1900, ttft_ms=1100)]),
]
write(f"{root}/team/alice/otel/logs.jsonl", alice_otel)
r1 = rec("api_request", C, "bob@example.com", "2026-01-06T09:00:02.000Z", model="claude-sonnet-4-5", request_id="req_c1",
         input_tokens=("intValue", "5"), output_tokens=("intValue", "15"), cache_read_tokens=("stringValue", "50"),
         cache_creation_tokens=25, cost_usd=0.003, duration_ms=("intValue", "900"), ttft_ms=("stringValue", "400"))
bob_otel = [
    body([rec("user_prompt", C, "bob@example.com", "2026-01-06T09:00:00.000Z", prompt_length=("stringValue", "42")), r1]),
    # The collector retried the export: the same record again, counted once.
    body([r1]),
    body([rec("tool_decision", C, "bob@example.com", "2026-01-06T09:00:03.000Z", tool_name="Edit", decision="accept"),
          rec("tool_result", C, "bob@example.com", "2026-01-06T09:00:04.000Z", tool_name="Edit", success=False, duration_ms=("intValue", "30")),
          rec("api_request", C, "bob@example.com", "2026-01-06T09:00:06.000Z", model="claude-sonnet-4-5", request_id="req_c2",
              input_tokens=6, output_tokens=16, cache_read_tokens=60, cache_creation_tokens=0, cost_usd=0.004, duration_ms=1500, ttft_ms=600),
          rec("brand_new_event", C, "bob@example.com", "2026-01-06T09:00:07.000Z")]),
    {"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": []}]},
]
write(f"{root}/team/bob/otel/logs.jsonl", bob_otel)

# --- bad inputs -----------------------------------------------------------
D = "dddddddd-0000-4000-8000-000000000005"
good = [init(D), sa(D, "msg_d1", "claude-opus-4-5", [{"type": "text", "text": "a"}], usage(1, 1, 1, 1))]
cut = json.dumps(sa(D, "msg_d2", "claude-opus-4-5", [{"type": "text", "text": "b"}], usage(2, 2, 2, 2)), separators=(",", ":"))
write(f"{root}/stream-json/cut_mid_line.jsonl", good + [cut[: len(cut) // 2], sa(D, "msg_d3", "claude-opus-4-5", [], usage(3, 3, 3, 3)), result(D, 0.1, usage(4, 4, 4, 4))])
E = "eeeeeeee-0000-4000-8000-000000000006"
write(f"{root}/stream-json/result_without_init.jsonl", [result(E, 0.5, usage(9, 9, 9, 9), turns=3)])
F = "ffffffff-0000-4000-8000-000000000007"
write(f"{root}/otlp/wrong_type.jsonl", [
    body([rec("api_request", F, "carol@example.com", "2026-01-07T08:00:00.000Z", request_id="req_f1", model="m",
              input_tokens=("stringValue", "lots"), output_tokens=1),
          rec("api_request", F, "carol@example.com", "2026-01-07T08:00:01.000Z", request_id="req_f2", model="m",
              input_tokens=2, output_tokens=3, cache_read_tokens=4, cache_creation_tokens=5)]),
    {"resourceLogs": "not an array"},
])

# --- expected figures (independent of the Rust code) ----------------------
def fold(lines, key):
    best = {}
    for l in lines:
        k = key(l)
        u = l["message"]["usage"]
        tot = sum(u.values())
        if k not in best or tot > sum(best[k].values()):
            best[k] = u
    return best
def totals(best):
    return [len(best)] + [sum(u[c] for u in best.values()) for c in
            ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
tA = fold([l for l in transcript if l["type"] == "assistant"], lambda l: l["message"]["id"] + ":" + l["requestId"])
print("A", totals(tA))
for sid in (B, B2):
    print(sid[:8], sid[-1], totals(fold([l for l in stream if l.get("session_id") == sid and l["type"] == "assistant"], lambda l: l["message"]["id"])))
reqs = {}
for b in bob_otel:
    for rl in b.get("resourceLogs", []):
        for sl in rl["scopeLogs"]:
            for r in sl["logRecords"]:
                a = {x["key"]: list(x["value"].values())[0] for x in r["attributes"]}
                if a["event.name"] == "api_request":
                    reqs[a["request_id"]] = [int(a[k]) for k in ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")]
print("C", [len(reqs)] + [sum(v[i] for v in reqs.values()) for i in range(4)])
