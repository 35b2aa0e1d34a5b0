"""Schemathesis hooks for the management API run (loaded by run.sh).

The server connects to the URLs it is given: cameras are pulled as soon as
they are saved, webhooks are called on stream events. Generated URLs could
name any address on the internet, and a test must send traffic only to this
machine. So every camera and webhook URL in a request body is replaced by
one on loopback where nothing listens (the discard port), just before the
request is sent, in every phase. The server's URL checks stay covered by
its own tests; everything else in these bodies is still generated.
"""

import schemathesis

CAMERA_URL = "rtsp://127.0.0.1:9/fuzz"
WEBHOOK_URL = "http://127.0.0.1:9/fuzz"


@schemathesis.hook
def before_call(context, case, **kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    path = case.operation.path
    if path.startswith("/api/v1/webhooks") and isinstance(body.get("url"), str):
        body["url"] = WEBHOOK_URL
    camera = body.get("camera")
    if path.startswith("/api/v1/streams") and isinstance(camera, dict) and isinstance(camera.get("url"), str):
        camera["url"] = CAMERA_URL
