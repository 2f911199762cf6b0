"""AWS Backup's error answers, as moto serialises them: the code and the HTTP status."""

from __future__ import annotations


def error(code: str, message: str, status: int = 400) -> Exception:
    from moto.core.exceptions import JsonRESTError

    made = JsonRESTError(code, message)
    made.code = status
    return made


def not_found(message: str) -> Exception:
    return error("ResourceNotFoundException", message)


def invalid_parameter(message: str) -> Exception:
    return error("InvalidParameterValueException", message)


def invalid_request(message: str) -> Exception:
    return error("InvalidRequestException", message)


def missing_parameter(message: str) -> Exception:
    return error("MissingParameterValueException", message)
