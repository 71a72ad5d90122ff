"""The yardstick of cold init: a handler written the plain way, as Powertools' and AWS's examples show it —
Logger and Tracer (which patches boto3 and requests for X-Ray), a pydantic model of the input, and the AWS
client created at module scope. `benchmarks/cold_init.py` imports it in a fresh interpreter like our
functions, from a directory holding this file, our built layer (Powertools, pydantic) and what
`requirements.txt` beside it installs there (boto3, as the Lambda runtime has it; the X-Ray SDK Tracer
needs). It is never deployed."""

import os

import boto3
from aws_lambda_powertools import Logger, Tracer
from pydantic import BaseModel, Field

logger = Logger()
tracer = Tracer()
dynamodb = boto3.client("dynamodb")
TABLE = os.environ.get("TABLE_NAME", "items")


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=0)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event, context):  # type: ignore[no-untyped-def]
    item = Item.model_validate_json(event["body"])
    dynamodb.put_item(TableName=TABLE, Item={"name": {"S": item.name}, "quantity": {"N": str(item.quantity)}})
    return {"statusCode": 201, "body": item.model_dump_json()}
