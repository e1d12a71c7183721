"""The JSON API's request and response models (pydantic), one module per area: they validate requests and
write the OpenAPI document (dashboards/api_spec.py)."""
