"""The scale benchmark bills DynamoDB's units from item sizes itself (moto answers
ReturnConsumedCapacity with a constant): the sizes and units follow the Developer
Guide's rules and examples."""

from __future__ import annotations

from bench.registry_scale import item_size, number_size, read_units, unfiltered, write_units


def test_an_item_is_its_names_and_values_bytes() -> None:
    # The Developer Guide's example: "shirt-color": "R", "shirt-size": "M" is 23 bytes.
    assert item_size({"shirt-color": {"S": "R"}, "shirt-size": {"S": "M"}}) == 23
    assert item_size({"é": {"S": "ü"}}) == 4  # UTF-8 bytes, not characters
    assert item_size({"on": {"BOOL": True}, "x": {"NULL": True}}) == 5


def test_numbers_lists_and_maps() -> None:
    assert number_size("7") == 2  # one significant digit: 1 byte, plus 1
    assert number_size("-1234.5600") == 4  # 123456: three bytes, plus 1
    assert number_size("1000") == 2  # trailing zeros are trimmed
    assert item_size({"l": {"L": []}}) == 1 + 3  # an empty list is 3 bytes
    assert item_size({"m": {"M": {"ab": {"S": "xyz"}}}}) == 1 + 3 + 1 + 2 + 3
    assert item_size({"l": {"L": [{"S": "a"}, {"N": "12"}]}}) == 1 + 3 + (1 + 1) + (1 + 2)


def test_units_round_up_per_call_and_per_item() -> None:
    assert read_units([], consistent=True) == 1.0  # a read of nothing still costs one
    assert read_units([3000, 3000], consistent=True) == 2.0  # summed, then rounded
    assert read_units([100] * 100, consistent=False) == 1.5  # 10,000 bytes: 3 units, halved
    assert write_units(1025, transaction=False) == 2.0
    assert write_units(10, transaction=True) == 2.0


def test_a_filtered_query_is_sized_as_it_evaluates() -> None:
    query = {"TableName": "t", "IndexName": "status-name", "Limit": 5,
             "KeyConditionExpression": "#s = :s", "FilterExpression": "attribute_not_exists(#r)",
             "ProjectionExpression": "#r", "ExclusiveStartKey": {"name": {"S": "a"}},
             "ExpressionAttributeNames": {"#s": "status", "#r": "rolled_up"},
             "ExpressionAttributeValues": {":s": {"S": "DELETED"}}}
    assert unfiltered(query) == {
        "TableName": "t", "IndexName": "status-name", "Limit": 5,
        "KeyConditionExpression": "#s = :s", "ExclusiveStartKey": {"name": {"S": "a"}},
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "DELETED"}}}
