"""Create the template's resources on the embedded AWS, as CloudFormation would.

Reads `template.yaml` (tables, bucket and its policy, functions with their merged Globals
environment and events, the state machine from its DefinitionUri with its
DefinitionSubstitutions, the Glue database and table and the Athena workgroup) and creates
each in moto, after checking the template's Rules. Only what the template says is created;
what is local-only (endpoints, the simulator's URL, short waits) comes in as parameter
overrides and extra environment, never as edits to the template.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .aws_calls import statements_of
from .embedded_aws import ACCOUNT_ID, REGION, EmbeddedAws
from .lambdas import LambdaWorkers, LocalFunction
from .resources import (
    apply_bucket_policy,
    check_analytics_prefix,
    create_bucket,
    create_glue_database,
    create_glue_table,
    create_secrets,
    create_table,
    create_work_group,
    execution_role,
)
from .sam_template import Resolver, Template

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
_EMPTY_ZIP = io.BytesIO()
with zipfile.ZipFile(_EMPTY_ZIP, "w") as _zip:
    _zip.writestr("app.py", "# the real code runs in local workers; see local_stack.lambdas\n")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function_name: str


@dataclass(frozen=True)
class EventRule:
    function_name: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class Schedule:
    """A ScheduleV2 event: EventBridge Scheduler invoking `function_name` with `input`."""

    name: str
    function_name: str
    expression: str
    input: str
    state: str


@dataclass
class DeployedStack:
    template: Template
    names: dict[str, str]  # logical id -> physical name (or ARN for state machines)
    functions: dict[str, LocalFunction]  # by logical id
    routes: list[Route]
    rules: list[EventRule]
    schedules: list[Schedule]
    environment: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)  # parameter name -> secret name

    def name(self, logical_id: str) -> str:
        return self.names[logical_id]

    @property
    def table(self) -> str:
        return self.names["ExportsTable"]

    @property
    def bucket(self) -> str:
        return self.names["ExportsBucket"]

    @property
    def state_machine_arn(self) -> str:
        return self.names["ExportStateMachine"]


def deploy(
    aws: EmbeddedAws,
    lambdas: LambdaWorkers,
    *,
    stack_name: str,
    parameters: dict[str, str],
    secrets: dict[str, str],
    extra_environment: dict[str, str],
    timeouts: dict[str, int] | None = None,
    template_path: Path = TEMPLATE_PATH,
) -> DeployedStack:
    """Create every resource; `secrets` maps a parameter holding a secret name to its value."""
    template = Template.load(template_path, parameters)
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
    }
    names, attributes = _physical_names(template, stack_name, pseudo)
    resolver = Resolver(template, names, attributes, pseudo)
    _check_rules(template, resolver)
    check_analytics_prefix(template.parameters)
    role_arn = execution_role(aws)
    create_secrets(aws, template, secrets)
    for resource in template.resources("AWS::DynamoDB::Table"):
        create_table(aws, names[resource.logical_id], resolver.resolve(resource.properties))
    for resource in template.resources("AWS::S3::Bucket"):
        create_bucket(aws, names[resource.logical_id], resolver.resolve(resource.properties))
    for resource in template.resources("AWS::S3::BucketPolicy"):
        apply_bucket_policy(aws, resolver.resolve(resource.properties))
    # The query side: the table local_stack.query reads its columns and layout from.
    for resource in template.resources("AWS::Glue::Database"):
        create_glue_database(aws, resolver.resolve(resource.properties))
    for resource in template.resources("AWS::Glue::Table"):
        create_glue_table(aws, resolver.resolve(resource.properties))
    for resource in template.resources("AWS::Athena::WorkGroup"):
        create_work_group(aws, resolver.resolve(resource.properties))

    functions, environment, routes, rules, schedules = _functions(
        template, resolver, names, attributes, extra_environment
    )
    for logical_id, seconds in (timeouts or {}).items():  # tests: a shorter Timeout
        functions[logical_id] = dataclasses.replace(functions[logical_id], timeout=seconds)
    # The IAM check counts a grant on a test's own secret name as the template's grant.
    aliases = {
        value: f"${{{name}}}"
        for name, value in template.parameters.items()
        if name.endswith("SecretName") and value
    }
    for function in functions.values():
        aws.client("lambda").create_function(
            FunctionName=function.name,
            Runtime="python3.13",
            Role=role_arn,
            Handler=function.handler,
            Code={"ZipFile": _EMPTY_ZIP.getvalue()},
            Timeout=function.timeout,
            MemorySize=function.memory_mb,
        )
        lambdas.register(function)
        policies = template.body["Resources"][function.logical_id]["Properties"].get("Policies")
        aws.calls.set_policy(function.name, statements_of(resolver.resolve(policies)), aliases)
    for resource in template.resources("AWS::Serverless::StateMachine"):
        _create_state_machine(aws, template, resource.logical_id, resolver, names, role_arn)

    return DeployedStack(
        template,
        names,
        functions,
        routes,
        rules,
        schedules,
        {**environment, **extra_environment},
        {name: template.parameters[name] for name in secrets},
    )


def _check_rules(template: Template, resolver: Resolver) -> None:
    """The template's Rules, as CloudFormation checks them before creating anything."""
    for name, rule in (template.body.get("Rules") or {}).items():
        if "RuleCondition" in rule and not resolver.resolve(rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions") or []:
            if not resolver.resolve(assertion["Assert"]):
                raise ValueError(f"Rule {name}: {assertion.get('AssertDescription', 'failed')}")


# Resources whose Ref is a name given in their properties, not one CloudFormation makes up.
_NAMED_BY = {
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Glue::Table": ("TableInput", "Name"),
    "AWS::Athena::WorkGroup": ("Name",),
}


def _physical_names(
    template: Template, stack: str, pseudo: dict[str, str]
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    names: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    by_parameters = Resolver(template, {}, {}, pseudo)  # names come from parameters only
    for resource in template.resources():
        logical, physical = resource.logical_id, f"{stack}-{resource.logical_id}"
        if resource.type in _NAMED_BY:
            value: Any = resource.properties
            for key in _NAMED_BY[resource.type]:
                value = value[key]
            physical = str(by_parameters.resolve(value))
        if resource.type == "AWS::S3::Bucket":
            physical = physical.lower()[:63]
            attributes[(logical, "Arn")] = f"arn:aws:s3:::{physical}"
        elif resource.type == "AWS::DynamoDB::Table":
            attributes[(logical, "Arn")] = (
                f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{physical}"
            )
        elif resource.type == "AWS::Serverless::Function":
            attributes[(logical, "Arn")] = (
                f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{physical}"
            )
        elif resource.type == "AWS::Serverless::StateMachine":
            arn = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{physical}"
            attributes[(logical, "Arn")] = arn
            attributes[(logical, "Name")] = physical
            physical = arn  # Ref of a state machine is its ARN
        elif resource.type == "AWS::IAM::ManagedPolicy":
            physical = f"arn:aws:iam::{ACCOUNT_ID}:policy/{physical}"  # Ref is its ARN
        elif resource.type not in _NAMED_BY:
            # Resources the local stack does not create still resolve: queues, log groups,
            # and the operations side (AlarmTopicKey, AlarmTopic and its email subscription,
            # the CloudWatch alarms and dashboard), which watch metrics only AWS produces;
            # tests/template checks what those resolve to.
            service = resource.type.split("::")[1].lower()
            attributes[(logical, "Arn")] = f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{physical}"
        names[logical] = physical
    return names, attributes


def _functions(
    template: Template,
    resolver: Resolver,
    names: dict[str, str],
    attributes: dict[tuple[str, str], str],
    extra_environment: dict[str, str],
) -> tuple[dict[str, LocalFunction], dict[str, str], list[Route], list[EventRule], list[Schedule]]:
    """The functions, the one environment they share, their HTTP routes, rules, schedules."""
    defaults = template.function_globals()
    global_env = (defaults.get("Environment") or {}).get("Variables") or {}
    functions: dict[str, LocalFunction] = {}
    environment: dict[str, str] = {}
    routes: list[Route] = []
    rules: list[EventRule] = []
    schedules: list[Schedule] = []
    for resource in template.resources("AWS::Serverless::Function"):
        props = {**defaults, **resource.properties}
        name = names[resource.logical_id]
        own_env = (resource.properties.get("Environment") or {}).get("Variables") or {}
        env = resolver.resolve({**global_env, **own_env})
        for key, value in env.items():
            # In AWS each function has its own environment; here one process plays them all.
            if key in environment and environment[key] != str(value):
                raise ValueError(
                    f"{resource.logical_id} sets {key} differently from another function; "
                    "the local stack needs one value per variable"
                )
            environment[key] = str(value)
        functions[resource.logical_id] = LocalFunction(
            logical_id=resource.logical_id,
            name=name,
            arn=attributes[(resource.logical_id, "Arn")],
            code_dir=template.root / props["CodeUri"],
            handler=props["Handler"],
            timeout=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={**{k: str(v) for k, v in env.items()}, **extra_environment},
        )
        for event_name, event in (resource.properties.get("Events") or {}).items():
            event_props = resolver.resolve(event.get("Properties") or {})
            if event["Type"] == "HttpApi":
                routes.append(Route(event_props["Method"].upper(), event_props["Path"], name))
            elif event["Type"] == "EventBridgeRule":
                rules.append(EventRule(name, event_props["Pattern"]))
            elif event["Type"] == "ScheduleV2":
                schedules.append(
                    Schedule(
                        event_props.get("Name") or f"{resource.logical_id}{event_name}",
                        name,
                        event_props["ScheduleExpression"],
                        event_props.get("Input", "{}"),
                        event_props.get("State", "ENABLED"),
                    )
                )
    return functions, environment, routes, rules, schedules


def _create_state_machine(
    aws: EmbeddedAws,
    template: Template,
    logical_id: str,
    resolver: Resolver,
    names: dict[str, str],
    role_arn: str,
) -> None:
    props = template.body["Resources"][logical_id]["Properties"]
    definition = (template.root / props["DefinitionUri"]).read_text()
    for key, value in resolver.resolve(props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    aws.client("stepfunctions").create_state_machine(
        name=names[logical_id].rsplit(":", 1)[-1],
        definition=definition,
        roleArn=role_arn,
        type=props.get("Type", "STANDARD"),
    )
