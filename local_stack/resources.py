"""Creating the template's stateful resources on the embedded AWS, as CloudFormation would."""

from __future__ import annotations

import json
from typing import Any

from .embedded_aws import EmbeddedAws
from .sam_template import Template

ROLE_NAME = "local-stack-role"


def execution_role(aws: EmbeddedAws) -> str:
    """The one IAM role every local function and the state machine run as (moto checks only
    that it exists)."""
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    try:
        return iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]


def create_secrets(aws: EmbeddedAws, template: Template, secrets: dict[str, str]) -> None:
    client = aws.client("secretsmanager")
    for parameter, value in secrets.items():
        name = template.parameters[parameter]
        if not name:
            raise ValueError(f"Parameter {parameter} names no secret")
        client.create_secret(Name=name, SecretString=value)


def create_table(aws: EmbeddedAws, name: str, props: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    client = aws.client("dynamodb")
    client.create_table(**args)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"],
                "Enabled": bool(ttl.get("Enabled", True)),
            },
        )


def create_bucket(aws: EmbeddedAws, name: str, props: dict[str, Any]) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=name)
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                # CloudFormation's ServerSideEncryptionByDefault is the API's Apply... key.
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                    for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                ]
            },
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    lifecycle = props.get("LifecycleConfiguration")
    # A rule behind a false condition (AWS::NoValue) is already gone from the list.
    if lifecycle and lifecycle.get("Rules"):
        rules = [lifecycle_rule(rule) for rule in lifecycle["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as the S3 API takes it (the actions the template uses)."""
    actions = {"AbortIncompleteMultipartUpload", "ExpirationInDays"}
    unknown = set(rule) - actions - {"Id", "Status", "Prefix"}
    if unknown:
        raise ValueError(f"The local stack cannot apply lifecycle rule keys {sorted(unknown)}")
    translated: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        translated["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    if "ExpirationInDays" in rule:
        translated["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    return translated


def apply_bucket_policy(aws: EmbeddedAws, props: dict[str, Any]) -> None:
    """Apply the statements moto evaluates as AWS does.

    moto 5.2.5 ignores a Deny's Condition (it treats the statement as matching), so the
    TLS-only Deny (`aws:SecureTransport: false`) would refuse every request, including the
    HTTPS ones it exists to allow. Such statements are checked by the template tests instead.
    """
    document = props["PolicyDocument"]
    statements = [s for s in document["Statement"] if not s.get("Condition")]
    if statements:
        aws.client("s3").put_bucket_policy(
            Bucket=props["Bucket"], Policy=json.dumps({**document, "Statement": statements})
        )


# ---------------------------------------------------------------- the query side


def check_analytics_prefix(parameters: dict[str, str]) -> None:
    """Refuse an AnalyticsPrefix nested under (or above) ExportsPrefix, which CloudFormation's
    Rules cannot compare: the copy must stay out of the CSVs' prefix (their IAM grants and
    lifecycle rule), and the CSVs out of the table's location."""
    copy, csvs = parameters.get("AnalyticsPrefix"), parameters.get("ExportsPrefix")
    if not copy or not csvs:
        return
    copy_dir, csvs_dir = copy.strip("/") + "/", csvs.strip("/") + "/"
    if copy_dir.startswith(csvs_dir) or csvs_dir.startswith(copy_dir):
        raise ValueError(
            f"AnalyticsPrefix {copy!r} and ExportsPrefix {csvs!r} overlap: give the query-ready "
            "copy a prefix beside the CSVs' (the default is analytics/export_rows)"
        )


def create_glue_database(aws: EmbeddedAws, props: dict[str, Any]) -> None:
    aws.client("glue").create_database(
        CatalogId=props["CatalogId"], DatabaseInput=props["DatabaseInput"]
    )


def create_glue_table(aws: EmbeddedAws, props: dict[str, Any]) -> None:
    aws.client("glue").create_table(
        CatalogId=props["CatalogId"],
        DatabaseName=props["DatabaseName"],
        TableInput=props["TableInput"],
    )


def create_work_group(aws: EmbeddedAws, props: dict[str, Any]) -> None:
    """An Athena workgroup (moto keeps it; it runs no SQL: local_stack.query does, in DuckDB)."""
    configuration = dict(props.get("WorkGroupConfiguration") or {})
    if "BytesScannedCutoffPerQuery" in configuration:  # a Number parameter arrives as text
        configuration["BytesScannedCutoffPerQuery"] = int(
            configuration["BytesScannedCutoffPerQuery"]
        )
    athena = aws.client("athena")
    athena.create_work_group(
        Name=props["Name"],
        Description=props.get("Description", ""),
        Configuration=configuration,
        Tags=props.get("Tags", []),
    )
    if props.get("State", "ENABLED") != "ENABLED":
        athena.update_work_group(WorkGroup=props["Name"], State=props["State"])
