"""Table and index schemas: validation of CreateTable/UpdateTable input and key handling.

A ``TableDef`` is built from the table's stored metadata (a JSON dict that is
the TableDescription minus live counters) and knows how to pull, check and
encode the key of an item for the table and for each of its indexes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from cloudlet.errors import ServiceError, ValidationError
from cloudlet.services.dynamodb.types import AttributeValue, Item, encode_key, value_type


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"


class ResourceInUse(ServiceError):
    code = "ResourceInUseException"


class LimitExceeded(ServiceError):
    code = "LimitExceededException"


def invalid(message: str) -> ValidationError:
    return ValidationError(f"One or more parameter values were invalid: {message}")


@dataclass(frozen=True)
class KeyPart:
    name: str
    type: str  # S N B


@dataclass(frozen=True)
class IndexDef:
    name: str
    kind: str  # GSI | LSI
    hash: KeyPart
    range: KeyPart | None
    projection: str  # ALL KEYS_ONLY INCLUDE
    non_key: tuple[str, ...] = ()

    def project(self, item: Item, table: TableDef) -> Item:
        if self.projection == "ALL":
            return item
        keep = set(table.key_names) | {self.hash.name} | ({self.range.name} if self.range else set()) | set(self.non_key)
        return {k: v for k, v in item.items() if k in keep}

    def key_names(self) -> tuple[str, ...]:
        return (self.hash.name, self.range.name) if self.range else (self.hash.name,)


@dataclass
class TableDef:
    tid: int
    account: str
    region: str
    meta: dict[str, Any]
    hash: KeyPart = field(init=False)
    range: KeyPart | None = field(init=False)
    indexes: dict[str, IndexDef] = field(init=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        types = {a["AttributeName"]: a["AttributeType"] for a in self.meta["AttributeDefinitions"]}
        self.hash, self.range = _key_parts(self.meta["KeySchema"], types)
        self.indexes = {}
        for kind, member in (("GSI", "GlobalSecondaryIndexes"), ("LSI", "LocalSecondaryIndexes")):
            for index in self.meta.get(member) or []:
                h, r = _key_parts(index["KeySchema"], types)
                projection = index.get("Projection") or {}
                self.indexes[index["IndexName"]] = IndexDef(
                    index["IndexName"], kind, h, r, projection.get("ProjectionType", "ALL"),
                    tuple(projection.get("NonKeyAttributes") or ()),
                )

    @property
    def name(self) -> str:
        return str(self.meta["TableName"])

    @property
    def arn(self) -> str:
        return str(self.meta["TableArn"])

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash.name, self.range.name) if self.range else (self.hash.name,)

    @property
    def stream_view_type(self) -> str | None:
        spec = self.meta.get("StreamSpecification") or {}
        return spec.get("StreamViewType") if spec.get("StreamEnabled") else None

    @property
    def ttl_attribute(self) -> str | None:
        ttl = self.meta.get("TimeToLive") or {}
        return ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None

    # -- keys ------------------------------------------------------------------------------

    def key_of(self, item: Item) -> Item:
        return {name: item[name] for name in self.key_names if name in item}

    def check_key(self, key: Any) -> tuple[bytes, bytes]:
        """Encoded (hash, range) of a ``Key`` parameter that must match the schema exactly."""
        if not isinstance(key, dict) or len(key) != len(self.key_names):
            raise ValidationError("The provided key element does not match the schema")
        parts = []
        for part in (self.hash, self.range):
            if part is None:
                parts.append(b"")
                continue
            value = key.get(part.name)
            if value is None or value_type(value) != part.type:
                raise ValidationError("The provided key element does not match the schema")
            _check_key_value(part.name, value, is_range=part is self.range)
            parts.append(encode_key(value))
        return parts[0], parts[1]

    def check_item_key(self, item: Item) -> tuple[bytes, bytes]:
        """Encoded key of a full item (PutItem); missing or mistyped keys are errors."""
        parts = []
        for part in (self.hash, self.range):
            if part is None:
                parts.append(b"")
                continue
            value = item.get(part.name)
            if value is None:
                raise invalid(f"Missing the key {part.name} in the item")
            actual = value_type(value)
            if actual != part.type:
                raise invalid(f"Type mismatch for key {part.name} expected: {part.type} actual: {actual}")
            _check_key_value(part.name, value, is_range=part is self.range)
            parts.append(encode_key(value))
        for index in self.indexes.values():
            for ipart in (index.hash, index.range):
                if ipart is None or ipart.name not in item:
                    continue
                actual = value_type(item[ipart.name])
                if actual != ipart.type:
                    raise invalid(
                        f"Type mismatch for Index Key {ipart.name} Expected: {ipart.type} Actual: {actual} IndexName: {index.name}"
                    )
                if actual in ("S", "B") and not item[ipart.name][actual]:
                    raise invalid(
                        f"One or more parameter values are not valid. A value specified for a secondary index key is not supported. "
                        f"The AttributeValue for a key attribute cannot contain an empty {'string' if actual == 'S' else 'binary'} value. "
                        f"IndexName: {index.name}, IndexKey: {ipart.name}"
                    )
        return parts[0], parts[1]

    def index_key(self, index: IndexDef, item: Item) -> tuple[bytes, bytes] | None:
        """Encoded (index hash, index range) of an item, or None if the item is not in the index (sparse)."""
        h = item.get(index.hash.name)
        if h is None or value_type(h) != index.hash.type:
            return None
        r = b""
        if index.range is not None:
            rv = item.get(index.range.name)
            if rv is None or value_type(rv) != index.range.type:
                return None
            r = encode_key(rv)
        return encode_key(h), r


def segment_of(hash_key: bytes) -> int:
    return zlib.crc32(hash_key) & 0x7FFFFFFF


MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024


def _check_key_value(name: str, value: AttributeValue, *, is_range: bool = False) -> None:
    kind = value_type(value)
    if kind in ("S", "B") and not value[kind]:
        word = "string" if kind == "S" else "binary"
        raise ValidationError(
            f"One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {word} value. Key: {name}"
        )
    size = len(value["S"].encode()) if kind == "S" else len(value["B"]) if kind == "B" else 0
    if not is_range and size > MAX_HASH_KEY_BYTES:
        raise invalid(f"Size of hashkey has exceeded the maximum size limit of{MAX_HASH_KEY_BYTES} bytes")
    if is_range and size > MAX_RANGE_KEY_BYTES:
        raise invalid(f"Aggregated size of all range keys has exceeded the size limit of {MAX_RANGE_KEY_BYTES} bytes")


def _key_parts(schema: list[dict[str, str]], types: dict[str, str]) -> tuple[KeyPart, KeyPart | None]:
    h = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
    r = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
    return KeyPart(h, types[h]), (KeyPart(r, types[r]) if r else None)


# -- CreateTable validation ---------------------------------------------------------------


def validate_key_schema(schema: list[dict[str, str]], types: dict[str, str], what: str) -> None:
    kinds = [k["KeyType"] for k in schema]
    if not schema or kinds[0] != "HASH" or kinds.count("HASH") != 1 or len(schema) > 2 or (len(schema) == 2 and kinds[1] != "RANGE"):
        if len(schema) == 2 and kinds == ["RANGE", "HASH"]:
            raise invalid("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
        raise invalid(f"Invalid KeySchema: {what} key schema must have exactly one HASH key and at most one RANGE key")
    names = [k["AttributeName"] for k in schema]
    if len(set(names)) != len(names):
        raise invalid("Invalid KeySchema: Some index key attribute have no definition")
    for name in names:
        if name not in types:
            raise invalid("Some index key attributes are not defined in AttributeDefinitions. "
                          f"Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(types)}]")


def _throughput(value: dict[str, Any] | None, billing: str, what: str) -> dict[str, Any]:
    if billing == "PAY_PER_REQUEST":
        if value:
            raise invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
        return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    if not value:
        raise invalid("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
    for unit in ("ReadCapacityUnits", "WriteCapacityUnits"):
        if int(value.get(unit, 0)) < 1:
            raise ValidationError(f"1 validation error detected: Value '{value.get(unit)}' at 'provisionedThroughput.{unit[0].lower()}{unit[1:]}' failed to satisfy constraint: Member must have value greater than or equal to 1")
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
    }


def index_description(index: dict[str, Any], billing: str, table_arn: str, kind: str) -> dict[str, Any]:
    projection = dict(index.get("Projection") or {})
    ptype = projection.get("ProjectionType")
    if ptype is None:
        raise invalid("Unknown ProjectionType: null")
    if ptype != "INCLUDE" and projection.get("NonKeyAttributes"):
        raise invalid("ProjectionType is " + ptype + ", but NonKeyAttributes is specified")
    if ptype == "INCLUDE" and not projection.get("NonKeyAttributes"):
        raise invalid("ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    desc: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": projection,
        "IndexSizeBytes": 0,
        "ItemCount": 0,
        "IndexArn": f"{table_arn}/index/{index['IndexName']}",
    }
    if kind == "GSI":
        desc["IndexStatus"] = "ACTIVE"
        desc["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"), billing, "index")
    return desc


def build_table_meta(params: dict[str, Any], *, account: str, region: str, now: float, table_id: str) -> dict[str, Any]:
    name = params["TableName"]
    definitions = params.get("AttributeDefinitions") or []
    types: dict[str, str] = {}
    for definition in definitions:
        if definition["AttributeName"] in types:
            raise invalid("Duplicate AttributeName in AttributeDefinitions")
        types[definition["AttributeName"]] = definition["AttributeType"]
    billing = params.get("BillingMode") or "PROVISIONED"
    schema = params["KeySchema"]
    validate_key_schema(schema, types, "Table")
    used = {k["AttributeName"] for k in schema}
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    gsis = params.get("GlobalSecondaryIndexes")
    lsis = params.get("LocalSecondaryIndexes")
    if gsis is not None and not gsis:
        raise invalid("List of GlobalSecondaryIndexes is empty")
    if lsis is not None and not lsis:
        raise invalid("List of LocalSecondaryIndexes is empty")
    names: set[str] = set()
    gsi_desc = []
    for index in gsis or []:
        validate_key_schema(index["KeySchema"], types, "Index")
        if index["IndexName"] in names:
            raise invalid(f"Duplicate index name: {index['IndexName']}")
        names.add(index["IndexName"])
        used |= {k["AttributeName"] for k in index["KeySchema"]}
        gsi_desc.append(index_description(index, billing, arn, "GSI"))
    if len(gsi_desc) > 20:
        raise LimitExceeded("Subscriber limit exceeded: The number of global secondary indexes exceeds the limit of 20")
    lsi_desc = []
    range_key = next((k for k in schema if k["KeyType"] == "RANGE"), None)
    for index in lsis or []:
        validate_key_schema(index["KeySchema"], types, "Index")
        if range_key is None:
            raise invalid("Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
        if index["KeySchema"][0]["AttributeName"] != schema[0]["AttributeName"] or len(index["KeySchema"]) != 2:
            raise invalid(f"Index KeySchema does not have the same leading hash key as table KeySchema for index: {index['IndexName']}. index hash key: {index['KeySchema'][0]['AttributeName']}, table hash key: {schema[0]['AttributeName']}")
        if index["IndexName"] in names:
            raise invalid(f"Duplicate index name: {index['IndexName']}")
        names.add(index["IndexName"])
        used |= {k["AttributeName"] for k in index["KeySchema"]}
        lsi_desc.append(index_description(index, billing, arn, "LSI"))
    if len(lsi_desc) > 5:
        raise invalid("Number of LocalSecondaryIndexes exceeds per-table limit of 5")
    unused = set(types) - used
    if unused:
        raise invalid(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"
        )
    meta: dict[str, Any] = {
        "AttributeDefinitions": definitions,
        "TableName": name,
        "KeySchema": schema,
        "TableStatus": "ACTIVE",
        "CreationDateTime": now,
        "ProvisionedThroughput": _throughput(params.get("ProvisionedThroughput"), billing, "table"),
        "TableArn": arn,
        "TableId": table_id,
        "DeletionProtectionEnabled": bool(params.get("DeletionProtectionEnabled", False)),
    }
    if params.get("BillingMode"):
        meta["BillingModeSummary"] = {"BillingMode": billing, "LastUpdateToPayPerRequestDateTime": now}
    if gsi_desc:
        meta["GlobalSecondaryIndexes"] = gsi_desc
    if lsi_desc:
        meta["LocalSecondaryIndexes"] = lsi_desc
    if params.get("TableClass"):
        meta["TableClassSummary"] = {"TableClass": params["TableClass"]}
    return meta


def throughput(value: dict[str, Any] | None, billing: str) -> dict[str, Any]:
    return _throughput(value, billing, "table")
