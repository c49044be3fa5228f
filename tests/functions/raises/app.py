def handler(event, context):
    return helper(event)


def helper(event):
    raise ValueError("bad value: " + str(event.get("x")))
