#!/usr/bin/env python3
"""Seeds a fresh server for scripts/schemathesis through the HTTP API: an owner (admin of
a Desk portal and a Chat portal of the same name, linked by the integration), a second
user who is a member and operator of both, a department, an account, a contact, a ticket
and a visitor's chat that the owner accepted and converted to a ticket.

Prints `NAME=value` lines (shell-quoted) for the runner to export: the ids the
schemathesis.toml pins the path parameters to, and the tokens it authenticates with.
Standard library only (it runs before and outside the fuzzer's virtualenv)."""

import json
import shlex
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1].rstrip("/")
PORTAL = "fuzz"
PASSWORD = "correct horse battery staple"


def call(method, path, body=None, token=None, expect=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        sys.exit(f"seeding failed: {method} {path} -> {status} {text}")
    return json.loads(text) if text else None


def main():
    owner = call("POST", "/api/v1/auth/signup",
                 {"email": "owner@fuzz.example", "password": PASSWORD, "name": "Owner"})
    token = owner["token"]
    # A second token of the owner, for `POST /api/v1/auth/logout` (it revokes the token
    # it is called with; the main token must survive the run).
    logout = call("POST", "/api/v1/auth/login",
                  {"email": "owner@fuzz.example", "password": PASSWORD})["token"]
    agent = call("POST", "/api/v1/auth/signup",
                 {"email": "agent@fuzz.example", "password": PASSWORD, "name": "Agent"})

    desk = f"/desk/api/v1/portals/{PORTAL}"
    call("POST", "/desk/api/v1/portals", {"portalName": PORTAL, "displayName": "Fuzz"}, token)
    call("POST", f"{desk}/members", {"email": "agent@fuzz.example", "role": "agent"}, token)
    account = call("POST", f"{desk}/accounts", {"accountName": "Fuzz Inc."}, token)
    sla = call("POST", f"{desk}/slas", {"name": "Gold"}, token)
    call("POST", f"{desk}/contracts",
         {"contractName": "2026", "accountId": account["id"], "slaId": sla["id"]}, token)
    contact = call("POST", f"{desk}/contacts",
                   {"lastName": "Visitor", "email": "visitor@fuzz.example",
                    "accountId": account["id"]}, token)
    ticket = call("POST", f"{desk}/tickets",
                  {"subject": "Fuzz ticket", "contactId": contact["id"]}, token)
    call("POST", f"{desk}/tickets/{ticket['id']}/threads",
         {"kind": "reply", "content": "First reply"}, token)

    chat = f"/chat/api/v1/portals/{PORTAL}"
    call("POST", "/chat/api/v1/portals", {"portalName": PORTAL, "displayName": "Fuzz"}, token)
    dept = call("POST", f"{chat}/departments", {"name": "Support"}, token)
    call("POST", f"{chat}/operators",
         {"email": "agent@fuzz.example", "role": "operator", "departmentIds": [dept["id"]]},
         token)
    call("PUT", f"{chat}/me/availability", {"status": "available"}, token)
    call("POST", f"{chat}/integrations/desk/enable", None, token)

    started = call("POST", f"/chat/widget/v1/{PORTAL}/chats",
                   {"departmentId": dept["id"], "name": "Visitor",
                    "email": "visitor@fuzz.example", "question": "Hello?",
                    "clientMessageId": "seed-1"})
    chat_id = started["chatId"]
    call("POST", f"{chat}/chats/{chat_id}/accept", None, token)
    call("POST", f"{chat}/chats/{chat_id}/messages",
         {"text": "Hi, how can I help?", "clientMessageId": "seed-2"}, token)
    converted = call("POST", f"{chat}/chats/{chat_id}/desk/tickets", {}, token)

    values = {
        "ST_TOKEN": token,
        "ST_LOGOUT_TOKEN": logout,
        "ST_PORTAL": PORTAL,
        "ST_AGENT_ID": agent["user"]["id"],
        "ST_ACCOUNT_ID": account["id"],
        "ST_CONTACT_ID": contact["id"],
        "ST_TICKET_ID": ticket["id"],
        "ST_CHAT_ID": chat_id,
        "ST_CHAT_TICKET_ID": converted["id"],
        "ST_VISITOR_ID": started["visitorId"],
        "ST_VISITOR_TOKEN": started["visitorToken"],
        "ST_CHAT_DEPARTMENT_ID": dept["id"],
    }
    for name, value in values.items():
        print(f"{name}={shlex.quote(str(value))}")


if __name__ == "__main__":
    main()
