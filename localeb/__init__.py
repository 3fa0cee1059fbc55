"""A local stand-in for AWS Elastic Beanstalk (and S3, through moto), with a real Docker platform.

Used by the test suite and by the `local` task namespace to rehearse a deploy without an AWS account.
"""
