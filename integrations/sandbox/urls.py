"""The sandbox's URLconf: Meta's and Amplitude's own paths, relative to the mount point."""

urlpatterns: list = []
