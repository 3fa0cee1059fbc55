from django.urls import path

from sampleapp import views

urlpatterns = [
    path("", views.index, name="index"),
    # Normally answered earlier by sampleapp.middleware.HealthCheckMiddleware; routed too for reverse().
    path("health", views.health, name="health"),
]
