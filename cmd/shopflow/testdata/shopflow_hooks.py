"""Schemathesis hooks of TestOpenAPIDocumentSaysWhatTheServerAccepts (cmd/shopflow).

A client sends each Idempotency-Key with one request only: the same key with a different
request is refused (422, as the document says), so generated cases that happen to reuse a
valid key would be refused for that, not for their data. A valid key is made unique per
call; an invalid one (a negative case) is sent as generated.
"""
import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]([ -~]{0,198}[!-~])?$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.match(key):
        headers["Idempotency-Key"] = "st-" + uuid.uuid4().hex
    return None
