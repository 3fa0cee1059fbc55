"""Errors as Elastic Beanstalk sends them (Query protocol: HTTP 400, ErrorResponse/Error/Code and Message)."""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class InvalidParameterValue(ServiceException):
    code = "InvalidParameterValue"


class InvalidParameterCombination(ServiceException):
    code = "InvalidParameterCombination"


class MissingParameter(ServiceException):
    code = "MissingParameter"


class InvalidRequestException(ServiceException):
    code = "InvalidRequestException"


class OperationInProgressFailure(ServiceException):
    code = "OperationInProgressFailure"


class S3LocationNotInServiceRegion(ServiceException):
    code = "S3LocationNotInServiceRegionException"


class TooManyApplicationVersions(ServiceException):
    code = "TooManyApplicationVersionsException"


class SourceBundleDeletionFailure(ServiceException):
    code = "SourceBundleDeletionFailure"


class ResourceNotFound(ServiceException):
    code = "ResourceNotFoundException"


class TooManyApplications(ServiceException):
    code = "TooManyApplicationsException"


class ConfigurationValidation(ServiceException):
    # An option value out of its range (transcript in ThoughtWorksStudios/eb_deployer#44: "Configuration validation
    # exception: Invalid option value: '0' (Namespace: ..., OptionName: ...): Value is less than minimum allowed value: 1").
    code = "ConfigurationValidationException"
