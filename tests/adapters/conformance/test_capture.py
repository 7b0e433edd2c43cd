"""adapters.conformance._capture: every log line is seen while capturing, and logging is left as it was."""

from __future__ import annotations

import logging

import structlog

from adapters.conformance import CapturedLogs


def test_stdlib_and_structlog_lines_are_captured_with_their_details() -> None:
    """Messages, arguments, extras, exception text and structlog key-values all end up in the captured text."""
    with CapturedLogs() as logs:
        logging.getLogger("some.adapter").debug("calling %s", "arg-one", extra={"token": "extra-two"})
        try:
            raise RuntimeError("inner-three")
        except RuntimeError:
            logging.getLogger("some.adapter").exception("failed")
            structlog.get_logger().error("failed", key="value-four", exc_info=True)
    stdlib_call, stdlib_failure, structlog_failure = (line for _, line in logs.lines)
    assert "arg-one" in stdlib_call and "extra-two" in stdlib_call
    assert "RuntimeError: inner-three" in stdlib_failure
    assert "value-four" in structlog_failure and "RuntimeError: inner-three" in structlog_failure


def test_the_kits_own_server_logs_are_not_the_adapters() -> None:
    """Records of aiohttp's server loggers (the hostile servers') are left out."""
    with CapturedLogs() as logs:
        logging.getLogger("aiohttp.server").error("server side")
        logging.getLogger("aiohttp.client").error("client side")
    assert [name for name, _ in logs.lines] == ["aiohttp.client"]


def test_logging_is_restored_afterwards() -> None:
    """The root level, the root handlers and structlog's processors are what they were before."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    processors = list(structlog.get_config()["processors"])
    with CapturedLogs():
        assert root.level == logging.DEBUG
    assert root.level == level and root.handlers == handlers
    assert structlog.get_config()["processors"] == processors


def test_overlapping_captures_each_see_everything_and_restore_once() -> None:
    """Two captures open at once (concurrent batteries) both get every line; logging is restored by the last."""
    processors = list(structlog.get_config()["processors"])
    outer = CapturedLogs().__enter__()
    inner = CapturedLogs().__enter__()
    structlog.get_logger().info("both", key="seen-twice")
    outer.__exit__(None, None, None)
    logging.getLogger("some.adapter").warning("inner only")
    assert structlog.get_config()["processors"] != processors
    inner.__exit__(None, None, None)
    assert structlog.get_config()["processors"] == processors
    assert [line for _, line in outer.lines if "seen-twice" in line]
    assert [line for _, line in inner.lines if "seen-twice" in line]
    assert [line for _, line in inner.lines if "inner only" in line]
    assert not [line for _, line in outer.lines if "inner only" in line]
