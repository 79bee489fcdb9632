from tests.conftest import BASE


def test_create_then_get_round_trips(api, create_campaign):
    created = create_campaign(name="  New Campaign ", goal="sales")
    response = api.get(f"{BASE}/{created['id']}")
    assert response.status_code == 200
    assert response.json["success"] is True
    assert response.json["data"]["name"] == "New Campaign"
    assert response.json["data"]["goal"] == "sales"
    assert response.json["data"]["status"] == "draft"
