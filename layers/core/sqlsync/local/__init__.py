"""The Docker-free local stack: moto, API Gateway- and SQS-shaped drivers, wired from template.yaml."""
