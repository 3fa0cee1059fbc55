"""The sample Django app that the pipeline builds, tests and ships to Elastic Beanstalk."""
