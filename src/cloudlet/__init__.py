"""Cloudlet: a serverless cloud on one machine that speaks the AWS API."""

__version__ = "0.1.0"
