from django.urls import path, re_path

from trustedpublishing import views

app_name = "trustedpublishing"

urlpatterns = [
    re_path(r"^account/trustedpublishing/?$", views.policies, name="list"),
    path("account/trustedpublishing/<int:pk>/edit", views.policy_edit, name="edit"),
    path("account/trustedpublishing/<int:pk>/enabled", views.policy_enabled, name="enabled"),
    path("account/trustedpublishing/<int:pk>/rearm", views.policy_rearm, name="rearm"),
    path("account/trustedpublishing/<int:pk>/delete", views.policy_delete, name="delete"),
]
