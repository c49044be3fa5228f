"""Creates an SDK client at init, as most functions do."""

import os

import boto3

s3 = boto3.client("s3")
credentials = boto3.Session().get_credentials()


def handler(event, context):
    return {
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
        "client_endpoint": s3.meta.endpoint_url,
        "region": s3.meta.region_name,
        "access_key": credentials.access_key,
        "session_token": os.environ.get("AWS_SESSION_TOKEN"),
    }
