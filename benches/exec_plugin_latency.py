#!/usr/bin/env python3
"""Exec plugin latency (issue 17): with a plugin that takes 2 s, the time from start to the
`initialize` answer, a `ping` answered while the plugin runs, and how many times the plugin runs
for 100 calls inside one token's lifetime. The API server is an unreachable loopback port: the
plugin runs before any request is sent, so no cluster is needed.

    cargo build --release && python3 benches/exec_plugin_latency.py target/release/k8s-rollout-mcp
"""
import json, os, subprocess, sys, tempfile, time

binary = sys.argv[1]
work = tempfile.mkdtemp()
plugin = os.path.join(work, "plugin")
with open(plugin, "w") as f:
    f.write('#!/bin/sh\necho run >> "$1/runs"\nsleep 2\n'
            'printf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}\'\n')
os.chmod(plugin, 0o755)
kubeconfig = os.path.join(work, "kubeconfig.json")
with open(kubeconfig, "w") as f:
    json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "c",
               "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
               "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                           "command": plugin, "args": [work],
                                                           "interactiveMode": "IfAvailable"}}}],
               "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}]}, f)

start = time.monotonic()
server = subprocess.Popen([binary, "--kubeconfig", kubeconfig, "--audit-log", os.path.join(work, "audit.jsonl"),
                           "--request-timeout", "5s"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

def send(message):
    server.stdin.write(json.dumps(message) + "\n")
    server.stdin.flush()

def answer(wanted):
    while True:
        message = json.loads(server.stdout.readline())
        if message.get("id") == wanted:
            return message

send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}})
answer(0)
initialize_ms = (time.monotonic() - start) * 1000
send({"jsonrpc": "2.0", "method": "notifications/initialized"})
history = {"resource_type": "deployment", "name": "web", "namespace": "default"}
send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "k8s_rollout_history", "arguments": history}})
time.sleep(0.5)  # the plugin is running now
ping_start = time.monotonic()
send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
answer(2)
ping_ms = (time.monotonic() - ping_start) * 1000
answer(1)
for i in range(100):
    send({"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call", "params": {"name": "k8s_rollout_history", "arguments": history}})
    answer(10 + i)
runs = len(open(os.path.join(work, "runs")).read().splitlines())
server.stdin.close()
server.wait()
print(f"initialize answered {initialize_ms:.1f} ms after start")
print(f"ping answered in {ping_ms:.1f} ms while the 2 s plugin ran")
print(f"plugin runs for 1 + 100 calls: {runs}")
