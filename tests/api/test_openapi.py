"""The OpenAPI document is valid, public, and names exactly the API's routes."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.api.conftest import DOC, openapi_path

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _api_operations(app) -> set[tuple[str, str]]:
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - IGNORED_METHODS
    }


def _documented_operations() -> set[tuple[str, str]]:
    return {(path, method) for path, item in DOC["paths"].items() for method in item}


def test_every_api_route_is_documented_and_nothing_else(app):
    routes, documented = _api_operations(app), _documented_operations()
    assert not routes - documented, (
        f"routes missing from the OpenAPI: {sorted(routes - documented)}"
    )
    assert not documented - routes, f"documented but not routed: {sorted(documented - routes)}"


def test_the_document_is_valid_openapi():
    validate(DOC)


def test_the_document_is_served_without_a_token(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json == DOC
    assert response.json["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_operation_documents_its_parameters_and_errors():
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            names = {
                p.get("name") or p["$ref"].rsplit("/", 1)[-1]
                for p in operation.get("parameters", [])
            }
            for segment in path.split("/"):
                if segment.startswith("{"):
                    assert segment.strip("{}") in names, (path, method)
            if operation.get("security") != []:  # public: this document and open data
                assert "401" in operation["responses"], (path, method)


def test_tokens_lifetime_and_scope_are_documented():
    scheme = DOC["components"]["securitySchemes"]["bearerAuth"]["description"]
    for words in ("90 days", "`read-write`", "403", "401", "salve token list", "revoke"):
        assert words in scheme, words
    writes = [
        (path, method)
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        if method != "get" and operation.get("security") != []
    ]
    assert writes  # filing a report, moving an alert
    for path, method in writes:
        forbidden = DOC["paths"][path][method]["responses"]["403"]
        assert forbidden == {"$ref": "#/components/responses/ForbiddenOrReadOnly"}, (path, method)
    assert "read-only" in DOC["components"]["responses"]["ForbiddenOrReadOnly"]["description"]
