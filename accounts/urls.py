from django.urls import path, re_path

from accounts import views

app_name = "accounts"

# nuget.org's paths. "/organization/add" and "/organization/invitations/<n>" cannot
# be taken by an organization's pages, which all have a further segment after its name.
urlpatterns = [
    re_path(r"^account/Organizations/?$", views.organization_list, name="list"),
    re_path(r"^organization/add/?$", views.organization_add, name="add"),
    path("organization/invitations/<int:pk>", views.invitation, name="invitation"),
    re_path(r"^organization/(?P<name>[^/]+)/Manage/?$", views.organization_manage, name="manage"),
    path("organization/<str:name>/ChangeEmail", views.organization_edit, name="edit"),
    path("organization/<str:name>/AddMember", views.member_add, name="member_add"),
    path("organization/<str:name>/UpdateMember", views.member_update, name="member_update"),
    path("organization/<str:name>/DeleteMember", views.member_delete, name="member_delete"),
    path("organization/<str:name>/Leave", views.organization_leave, name="leave"),
    path(
        "organization/<str:name>/CancelMemberRequest",
        views.invitation_cancel,
        name="invitation_cancel",
    ),
    path("organization/<str:name>/Delete", views.organization_delete, name="delete"),
]
