def handler(event, context):
    blob = bytearray(event["mb"] * 1024 * 1024)
    return len(blob)
