from api import create_app


def test_healthz_answers(db_engine):
    app = create_app({"ENGINE": db_engine, "DATABASE_URL": "given"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_urls_answer_json_errors(db_engine):
    app = create_app({"ENGINE": db_engine, "DATABASE_URL": "given"})
    response = app.test_client().get("/no/such/page")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
