"""The product's URLs plus an empty view: the ceiling for requests through Django."""

from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("bench/empty", lambda request: HttpResponse(b""), name="bench_empty"),
    path("", include("portal.urls")),
]

handler500 = "portal.views.server_error"
