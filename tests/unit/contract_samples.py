"""Events valid for each kind, shared by the contract tests."""

MINIMAL: dict[str, dict[str, object]] = {
    "log": {"level": "info", "message": "hello"},
    "api_metric": {"endpoint": "/users/:id", "method": "GET", "status_code": 200, "response_time_ms": 12.5},
    "system_metric": {"metric_type": "cpu", "metric_name": "cpu.utilization", "value": 0.42},
    "blockchain_event": {"event_type": "Transfer"},
    "admin_audit": {"action": "user.suspend"},
    "security_event": {"event_type": "failed_login", "severity": "high"},
}
