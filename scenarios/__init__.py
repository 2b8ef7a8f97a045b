"""How ProspectPro users behave: Locust user classes and everything inside Locust that knows ProspectPro."""
