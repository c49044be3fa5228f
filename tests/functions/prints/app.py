import logging
import sys

print("init line")
logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    print("hello from print")
    sys.stderr.write("to stderr\n")
    logger.info("info %s", event.get("n"))
    logging.getLogger("child").debug("hidden")
    print("no newline at end", end="")
    return "done"
