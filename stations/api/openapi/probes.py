"""The OpenAPI operation of the readiness probe."""

_OK = {"const": "ok"}
_REACHABLE = {"enum": ["ok", "unreachable"]}
_SCHEMA_STATES = {"enum": ["ok", "missing", "behind", "ahead", "unchecked"]}


def ready_operation():
    """GET /api/v1/ready: 200 with every check ok, or 503 naming what failed."""
    ready = {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"const": "ready"},
            "checks": {
                "type": "object",
                "required": ["database", "schema"],
                "properties": {"database": _OK, "schema": _OK, "redis": _OK},
            },
        },
    }
    failed_checks = {
        "type": "object",
        "properties": {"database": _REACHABLE, "schema": _SCHEMA_STATES, "redis": _REACHABLE},
    }
    not_ready = {
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {"type": "object", "required": ["checks"], "properties": {"checks": failed_checks}},
        ]
    }
    return {
        "summary": "Readiness probe",
        "description": "Ready when the database answers with its schema at the latest "
        "migration, and Redis answers when the server uses it (the redis check is "
        "present only then). Never rate limited.",
        "operationId": "ready",
        "responses": {
            "200": {
                "description": "Ready to serve",
                "content": {"application/json": {"schema": ready}},
            },
            "503": {
                "description": "Not ready: `detail` names what failed, `checks` "
                "holds every check's state. Ask again after Retry-After seconds.",
                "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
                "content": {"application/problem+json": {"schema": not_ready}},
            },
        },
    }
