from django.urls import re_path

from packages import views

app_name = "packages"

urlpatterns = [
    re_path(r"^account/Packages/?$", views.manage_packages, name="manage"),
]
