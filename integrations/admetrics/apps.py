from django.apps import AppConfig


class AdMetricsConfig(AppConfig):
    name = "integrations.admetrics"
    label = "admetrics"
    verbose_name = "Ad spend (Facebook Ads)"
