"""DynamoDB expressions: tokenizer, parser, tree and evaluator."""

from cloudlet.services.dynamodb.expressions.parser import (
    Placeholders,
    parse_condition,
    parse_projection,
    parse_update,
)

__all__ = ["Placeholders", "parse_condition", "parse_projection", "parse_update"]
