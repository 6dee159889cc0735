"""One naming rule for everything we serialise: snake_case fields become camelCase keys."""


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
