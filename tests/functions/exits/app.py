import os


def handler(event, context):
    print("about to exit", flush=True)
    if event.get("exit"):
        os._exit(event.get("code", 3))
    return {"pid": os.getpid()}
