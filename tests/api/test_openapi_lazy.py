"""The OpenAPI documents are built at their first read, not when the app is made, and
the first read gives the whole document, however many threads read it at once."""
import pytest

from app.api.core.errors import Api
from tests.reliability.test_races import all_at_once


@pytest.mark.parametrize("extension", ["openapi", "mail_openapi"])
def test_making_the_app_documents_no_operation_until_the_document_is_read(app, extension):
    api = app.extensions[extension]
    assert api.openapi_spec.to_dict().get("paths", {}) == {}
    assert api.pending_document

    paths = api.spec.to_dict()["paths"]

    assert paths
    assert api.pending_document == []
    # Each route of the app under this document's prefixes is in it.
    assert all(path.startswith("/") for path in paths)


def test_the_served_document_is_the_whole_one_and_stays_the_same(app, client):
    first = client.get("/api/v1/openapi.json").get_json()
    again = client.get("/api/v1/openapi.json").get_json()

    assert first == again
    assert "/api/v1/tenant/campaigns" in first["paths"]
    assert "listCampaigns" in {op.get("operationId") for item in first["paths"].values()
                               for op in item.values() if isinstance(op, dict)}
    # The shared responses were finished after the operations (they name error codes).
    assert "Codes:" in first["components"]["responses"]["NOT_FOUND"]["description"]


def test_threads_reading_the_document_at_once_all_get_the_whole_document(make_app):
    app = make_app()
    api = app.extensions["openapi"]
    documents = all_at_once([lambda: api.spec.to_dict()] * 8)  # each reads api.spec

    assert len(documents) == 8
    assert all(document == documents[0] for document in documents)
    assert len(documents[0]["paths"]) == len(make_app().extensions["openapi"].spec.to_dict()["paths"])


def test_a_finisher_runs_once_after_the_operations(make_app):
    app = make_app()
    api = app.extensions["openapi"]
    seen = []
    api.when_documented(lambda spec: seen.append(len(spec.to_dict()["paths"])))

    api.spec.to_dict()
    api.spec.to_dict()

    assert len(seen) == 1 and seen[0] > 0
    assert isinstance(api, Api)
