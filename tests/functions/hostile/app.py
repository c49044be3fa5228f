"""A handler that misbehaves on request (engine isolation tests)."""

import ctypes
import os
import sys
import threading
import time

print("hostile init")


def _chatter(tag):
    n = 0
    while True:
        n += 1
        print(f"stray {tag} {n}", flush=True)
        time.sleep(0.01)


def handler(event, context):
    mode = event.get("mode")
    if mode == "segfault":
        print("about to crash", flush=True)
        ctypes.string_at(0)
    if mode == "leak_thread":
        threading.Thread(target=_chatter, args=(context.aws_request_id,)).start()
        return {"threads": threading.active_count()}
    if mode == "print_lines":
        line = "x" * 1000
        for _ in range(event["count"]):
            print(line)
        return "printed"
    if mode == "print_long":
        sys.stdout.write("y" * event["bytes"])
        sys.stdout.write("\n")
        print("after long line")
        return "printed"
    if mode == "alloc":
        blob = bytearray(event["mb"] * 1024 * 1024)
        return len(blob)
    if mode == "tmp":
        with open(os.path.join("/tmp", event["name"]), "w") as f:
            f.write("x")
        return {"tmp": sorted(os.listdir("/tmp")), "tmpdir": os.environ.get("TMPDIR"), "cwd": os.getcwd()}
    if mode == "escape":
        import resource

        libc = ctypes.CDLL(None, use_errno=True)
        unmounted = libc.umount2(b"/tmp", 2) == 0  # MNT_DETACH
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            raised = True
        except (ValueError, OSError):
            raised = False
        return {"unmounted": unmounted, "raised_limit": raised}
    if mode == "sleep":
        time.sleep(event["seconds"])
    return {"pid": os.getpid(), "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
