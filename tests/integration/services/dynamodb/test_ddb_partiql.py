"""PartiQL ExecuteStatement / BatchExecuteStatement through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def test_insert_select_update_delete(ddb: Any, make_table: Any) -> None:
    name = make_table()
    ddb.execute_statement(Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': '1', 'n': 5, 'tags': <<'x', 'y'>>}}")
    ddb.execute_statement(Statement=f'INSERT INTO "{name}" VALUE {{\'pk\': ?, \'sk\': ?}}', Parameters=[{"S": "a"}, {"S": "2"}])
    with pytest.raises(ClientError) as info:
        ddb.execute_statement(Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'a', 'sk': '1'}}")
    assert info.value.response["Error"]["Code"] == "DuplicateItemException"
    rows = ddb.execute_statement(Statement=f"SELECT * FROM \"{name}\" WHERE pk = 'a'")["Items"]
    assert [r["sk"]["S"] for r in rows] == ["1", "2"]
    assert rows[0]["tags"] == {"SS": ["x", "y"]}
    ddb.execute_statement(Statement=f"UPDATE \"{name}\" SET n = n + 1 SET extra = 'e' WHERE pk = 'a' AND sk = '1'")
    picked = ddb.execute_statement(Statement=f"SELECT n, extra FROM \"{name}\" WHERE pk = ? AND sk = ?", Parameters=[{"S": "a"}, {"S": "1"}])
    assert picked["Items"] == [{"n": {"N": "6"}, "extra": {"S": "e"}}]
    with pytest.raises(ClientError) as info:
        ddb.execute_statement(Statement=f"UPDATE \"{name}\" SET n = 1 WHERE pk = 'zz' AND sk = '1'")
    assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    filtered = ddb.execute_statement(Statement=f"SELECT sk FROM \"{name}\" WHERE n > 5 OR sk IN ['9']")
    assert filtered["Items"] == [{"sk": {"S": "1"}}]
    assert ddb.execute_statement(Statement=f"SELECT * FROM \"{name}\" WHERE n IS MISSING")["Items"][0]["sk"] == {"S": "2"}
    ddb.execute_statement(Statement=f"DELETE FROM \"{name}\" WHERE pk = 'a' AND sk = '2'")
    assert len(ddb.execute_statement(Statement=f'SELECT * FROM "{name}"')["Items"]) == 1
    with pytest.raises(ClientError) as info:
        ddb.execute_statement(Statement=f"SELEC * FROM \"{name}\"")
    assert info.value.response["Error"]["Message"].startswith("Statement wasn't well formed, can't be processed")


def test_batch_execute_statement(ddb: Any, make_table: Any) -> None:
    name = make_table()
    out = ddb.batch_execute_statement(
        Statements=[
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'b', 'sk': '1'}}"},
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'b', 'sk': '1'}}"},
            {"Statement": f"SELECT * FROM \"{name}\" WHERE pk = 'b' AND sk = '1'"},
        ]
    )["Responses"]
    assert "Error" not in out[0]
    assert out[1]["Error"]["Code"] == "DuplicateItem"
    assert out[2]["Item"] == {"pk": {"S": "b"}, "sk": {"S": "1"}}


def test_execute_transaction(ddb: Any, make_table: Any) -> None:
    name = make_table()
    ddb.execute_transaction(
        TransactStatements=[
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 't', 'sk': '1', 'n': 1}}"},
            {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 't', 'sk': '2'}}"},
        ]
    )
    with pytest.raises(ClientError) as info:
        ddb.execute_transaction(
            TransactStatements=[
                {"Statement": f"UPDATE \"{name}\" SET n = 2 WHERE pk = 't' AND sk = '1'"},
                {"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 't', 'sk': '2'}}"},
            ]
        )
    assert info.value.response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"},
    ]
    read = ddb.execute_transaction(
        TransactStatements=[{"Statement": f"SELECT n FROM \"{name}\" WHERE pk = 't' AND sk = '1'"}]
    )["Responses"]
    assert read == [{"Item": {"n": {"N": "1"}}}]
