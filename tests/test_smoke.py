from django.test import Client


def test_list_first_page_shows_sandbox_rows(alice: Client) -> None:
    response = alice.get("/connections/")
    assert response.status_code == 200
    assert response["Vary"].startswith("HX-Request")
    body = response.content.decode()
    assert "connections match" in body
    assert body.count('<tr><td><a href="/connections/') == 20
