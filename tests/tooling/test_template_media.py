"""The MMS media bucket in ``infra/template.yaml``: private, encrypted, transient, and reachable
by the dispatcher alone, with only the two actions live MMS needs."""

import re
from typing import Any

import pytest

from agentmessage_local.resources import planned_stack
from agentmessage_local.template import functions, load_template, resources

BUCKET_NAME = {"Fn::Sub": "agentmessage-media-${AWS::AccountId}-${AWS::Region}-${Stage}"}
OBJECTS = {"Fn::Sub": "${MediaBucket.Arn}/*"}
# SendMediaMessage's MediaUrls pattern (botocore's service model): s3://([a-z0-9\.-]{3,63})/(.+)
S3_BUCKET_IN_MEDIA_URL = re.compile(r"[a-z0-9\.-]{3,63}")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def bucket(template: dict[str, Any]) -> dict[str, Any]:
    buckets = resources("AWS::S3::Bucket", template)
    assert list(buckets) == ["MediaBucket"]
    return buckets["MediaBucket"]


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in function["Properties"].get("Policies", [])
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_the_bucket_is_private_and_encrypted(bucket: dict[str, Any]) -> None:
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # SSE-S3: a KMS key would need a grant for every reader, End User Messaging included
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_staged_media_expires_after_an_mms_can_still_be_sent(bucket: dict[str, Any]) -> None:
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    # every staged object
    assert "Prefix" not in rule
    assert "Filter" not in rule
    # Beyond SendMediaMessage's default TimeToLive (72 hours), and gone within a week
    assert 3 < rule["ExpirationInDays"] <= 7
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_the_bucket_is_deleted_with_the_stack(bucket: dict[str, Any]) -> None:
    # Transient copies: nothing to keep, unlike the tables (Retain)
    assert bucket["DeletionPolicy"] == "Delete"
    assert bucket["UpdateReplacePolicy"] == "Delete"


def test_the_bucket_policy_only_denies_plain_http(template: dict[str, Any]) -> None:
    (policy,) = resources("AWS::S3::BucketPolicy", template).values()
    props = policy["Properties"]
    assert props["Bucket"] == {"Ref": "MediaBucket"}
    (statement,) = props["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [{"Fn::GetAtt": ["MediaBucket", "Arn"]}, OBJECTS]


def test_the_dispatcher_may_put_and_get_staged_objects_and_nothing_else_in_s3(
    template: dict[str, Any],
) -> None:
    dispatcher = template["Resources"]["DispatchFunction"]
    s3 = [
        statement
        for statement in statements(dispatcher)
        if any(a.startswith("s3:") for a in actions(statement))
    ]
    granted = sorted(
        (action, str(statement["Resource"])) for statement in s3 for action in actions(statement)
    )
    # PutObject to stage; GetObject because SendMediaMessage reads with the caller's permissions
    assert granted == [("s3:GetObject", str(OBJECTS)), ("s3:PutObject", str(OBJECTS))]
    assert all(statement["Effect"] == "Allow" and "Condition" not in statement for statement in s3)


def test_no_other_function_touches_s3_or_knows_the_bucket(template: dict[str, Any]) -> None:
    for logical_id, function in resources("AWS::Serverless::Function", template).items():
        if logical_id == "DispatchFunction":
            continue
        assert not [a for s in statements(function) for a in actions(s) if a.startswith("s3:")], logical_id
        assert "MEDIA_BUCKET" not in function["Properties"].get("Environment", {}).get("Variables", {})


def test_the_dispatcher_is_told_the_buckets_name(template: dict[str, Any], bucket: dict[str, Any]) -> None:
    environment = functions(template)["DispatchFunction"].environment
    assert bucket["Properties"]["BucketName"] == BUCKET_NAME
    assert environment["MEDIA_BUCKET"] == BUCKET_NAME


def test_the_local_stack_resolves_the_name_to_one_an_s3_url_can_carry() -> None:
    # The local stack creates no bucket, but resolves every function's environment from the template
    name = planned_stack().environment(functions()["DispatchFunction"])["MEDIA_BUCKET"]

    assert name == "agentmessage-media-123456789012-us-east-1-dev"
    assert S3_BUCKET_IN_MEDIA_URL.fullmatch(name)
