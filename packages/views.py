from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from packages.selectors import package_list_for


@require_safe
@login_required
def manage_packages(request):
    return render(
        request, "packages/manage_packages.html", {"packages": package_list_for(request.user)}
    )
