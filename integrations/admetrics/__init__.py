"""Ad metrics: Facebook Ads spend imported per ad and day, and the cost report built on it."""
