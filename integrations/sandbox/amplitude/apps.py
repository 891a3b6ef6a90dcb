from django.apps import AppConfig


class AmplitudeSandboxConfig(AppConfig):
    name = "integrations.sandbox.amplitude"
    label = "amplitude_sandbox"
    verbose_name = "Sandbox: local Amplitude"
