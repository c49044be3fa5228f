"""Deploy AWS SAM / CloudFormation templates to Cloudlet through the AWS API.

``deploy_template(path, clients, …)`` is the entry point; ``cloudlet deploy
template.yaml`` is its command-line shell.
"""

from cloudlet.deploy.deployer import DeployResult, Output, deploy_template, stack_name_for
from cloudlet.deploy.intrinsics import TemplateError

__all__ = ["DeployResult", "Output", "TemplateError", "deploy_template", "stack_name_for"]
