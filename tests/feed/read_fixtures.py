"""Publishing through the push endpoint, for the read-protocol tests."""

import pytest

from apikeys.scopes import Action
from tests.nupkgs import make_nupkg


@pytest.fixture
def publish(push, owner, make_key, client):
    """Push ``package_id`` ``version`` (``**kwargs`` go to make_nupkg); returns its bytes.
    ``listed=False`` unlists it after the push."""
    _key, value = make_key(owner, actions=[Action.PUSH.value, Action.UNLIST.value])

    def send(package_id="Contoso.Core", version="1.0.0", *, listed=True, **kwargs):
        nupkg = make_nupkg(package_id, version, **kwargs)
        response = push(nupkg, value)
        assert response.status_code == 201, response.reason_phrase
        if not listed:
            response = client.delete(
                f"/api/v2/package/{package_id}/{version}", headers={"X-NuGet-ApiKey": value}
            )
            assert response.status_code == 204, response.reason_phrase
        return nupkg

    return send
